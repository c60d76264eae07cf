"""The summary a caller heard, by text message to the phone they call from (key 5).

A webhook only asks: the call log's writer puts one row per (call, topic) in the outbox table
text_messages (calllog.CallLog.add_to_outbox), however often the caller presses 5. A sender
thread in each of the app's processes (ivr/outbox.py) sends it through Twilio's Messaging API
with the twilio SDK, never inside a webhook; 429, 5xx and a network that fails are tried again
(5 s, 10 s, 20 s, 40 s, then every minute) for GIVE_UP at most; any other refusal (a number that
sent STOP, a landline) is final. ``report`` counts texts sent and failed.

No number is stored: the sender asks Twilio for the call's From (the call's record at Twilio)
just before it sends. The keyed hash of the number (CALLER_HASH_KEY) is kept to hold the limit:
DAILY_LIMIT texts per call and per number in any 24 hours, so the line cannot be used to send
spam. A webhook that offers one checks it within a fixed budget; the sender checks it again.

Settings: TWILIO_ACCOUNT_SID (with TWILIO_AUTH_TOKEN), and TWILIO_MESSAGING_SERVICE_SID or
TWILIO_SMS_FROM (a number of the account that can send texts). Without them, or without
CALLER_HASH_KEY or CLINIC_PHONE_NUMBER (the message gives the clinic's number), texts are not
offered, and start-up says so once.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

import phonenumbers
import requests
from flask import Blueprint, Flask, current_app, g
from flask import request as webhook
from sqlalchemy import func, select
from sqlalchemy.engine import Row
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from . import offers, outbox
from .calllog import caller_hash, read_within_budget
from .schema import text_messages
from .simulator import SIMULATED_CALL

logger = logging.getLogger(__name__)
# The SDK's request log would show the number a message goes to: never below WARNING.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

bp = Blueprint("text_messages", __name__)

DAILY_LIMIT = offers.TEXTS_PER_DAY
DAY = timedelta(hours=24)
# A text about what a caller just heard is pointless hours later: after this, it is given up.
GIVE_UP = timedelta(hours=1)
TWILIO_TIMEOUT_SECONDS = 10
NOT_CONFIGURED_WARNING = (
    "Text messages are off ({missing} not set): callers are not offered the summary by text (key 5). "
    "See docs/production.md, Text messages."
)


def missing_settings(config) -> list[str]:
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CALLER_HASH_KEY", "CLINIC_PHONE_NUMBER")
               if not config.get(name)]
    if not config.get("TWILIO_MESSAGING_SERVICE_SID") and not config.get("TWILIO_SMS_FROM"):
        missing.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_SMS_FROM")
    return missing


def init_app(app: Flask) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_SMS_FROM"):
        app.config.setdefault(name, os.environ.get(name, ""))
    app.register_blueprint(bp)
    app.extensions["ivr.texts_today"] = lambda number, now: texts_today(app, number, now)
    missing = missing_settings(app.config)
    if missing and app.config.get("SERVES_CALLS", True):
        app.logger.warning(NOT_CONFIGURED_WARNING.format(missing=", ".join(missing)))
    if missing:
        app.extensions["ivr.text_messages"] = None
        return
    sender = outbox.Sender(app, text_messages, "text message", lambda row: _deliver(app, row), GIVE_UP)
    app.extensions["ivr.text_messages"] = sender
    outbox.start_with_requests(app, sender)


def sender(app: Flask) -> outbox.Sender | None:
    return app.extensions.get("ivr.text_messages")


# -- what a webhook does: ask, and count ---------------------------------------------


def request(app: Flask, call_sid: str, topic: str, lang: str, hashed: str, now: datetime) -> None:
    """Ask for one topic's text to this call's number; never waits for the database."""
    at = outbox.utc_naive(now)
    app.extensions["ivr.calllog"].add_to_outbox(text_messages, {
        "call_sid": call_sid, "topic": topic, "lang": lang, "caller_hash": hashed,
        "time_utc": at, "next_attempt_utc": at, "attempts": 0})


def texts_today(app: Flask, number: str | None, now: datetime) -> int | None:
    """For a webhook: the texts this number had in the last 24 hours, or None if the database does
    not answer within the webhook's budget (calllog.read_within_budget; the sender holds the limit anyway)."""
    hashed = caller_hash(number, app.config["CALLER_HASH_KEY"])
    if hashed is None:
        return None
    engine = app.extensions["ivr.calllog"].engine
    try:
        return read_within_budget(lambda: sent_today(engine(), hashed, now))
    except Exception as exc:
        logger.warning("text messages: cannot count this number's texts today (%s); the sender holds the limit",
                       type(exc).__name__)
        return None


@bp.after_app_request
def ask_for_the_text(response):
    """5 after a summary, and the caller heard "I will send it now": the outbox row, held for the
    call log's writer. Nothing here may fail the call."""
    step = g.get("ivr_step")
    if isinstance(step, offers.SendText) and response.status_code == 200 and not webhook.environ.get(SIMULATED_CALL):
        try:
            app = current_app._get_current_object()
            request(app, webhook.form.get("CallSid", ""), step.topic, step.lang,
                    caller_hash(webhook.form.get("From"), app.config["CALLER_HASH_KEY"]), app.config["CLOCK"]())
        except Exception:
            logger.exception("text messages: cannot ask for the text of %s", step.topic)
    return response


def sent_today(engine, caller_hash: str, now: datetime) -> int:
    """Texts asked for this number in the last 24 hours, except those that failed."""
    query = (select(func.count()).select_from(text_messages)
             .where(text_messages.c.caller_hash == caller_hash, text_messages.c.failed_utc.is_(None),
                    text_messages.c.time_utc >= outbox.utc_naive(now) - DAY))
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


# -- the sender ---------------------------------------------------------------------


def _client(app: Flask) -> Client:
    config = app.config
    return Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                  http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS))


def clinic_phone(number: str) -> str:
    """The clinic's number as people write it: (214) 555-0100 for a US number."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return number


def body(app: Flask, topic: str, lang: str) -> str:
    from . import views

    with app.app_context():
        texts = views.script().to_your_phone
    if texts is None or topic not in texts.text_messages.topics:
        raise outbox.Refused(f"the scripts have no text message for '{topic}' any more")
    return texts.message(topic, lang, clinic_phone(app.config["CLINIC_PHONE_NUMBER"]))


def _deliver(app: Flask, row: Row) -> dict:
    engine = app.extensions["ivr.calllog"].engine()
    with engine.connect() as connection:  # the limit, again: several calls of one number at once
        earlier = connection.execute(
            select(func.count()).select_from(text_messages)
            .where(text_messages.c.caller_hash == row.caller_hash, text_messages.c.sent_utc.is_not(None),
                   text_messages.c.sent_utc >= row.time_utc - DAY)).scalar_one()
    if earlier >= DAILY_LIMIT:
        raise outbox.Refused(f"this number had {DAILY_LIMIT} texts in 24 hours")
    text = body(app, row.topic, row.lang)
    config = app.config
    origin = ({"messaging_service_sid": config["TWILIO_MESSAGING_SERVICE_SID"]}
              if config["TWILIO_MESSAGING_SERVICE_SID"] else {"from_": config["TWILIO_SMS_FROM"]})
    client = _client(app)
    try:
        number = client.calls(row.call_sid).fetch()._from
        message = client.messages.create(to=number, body=text, **origin)
    except TwilioRestException as exc:
        # Twilio's message can name the number: only its status and code are kept and logged.
        reason = f"Twilio answered {exc.status} (error {exc.code})"
        if exc.status == 429 or exc.status >= 500:
            raise outbox.Retry(reason) from None
        raise outbox.Refused(reason) from None
    except (requests.RequestException, TwilioException) as exc:
        raise outbox.Retry(f"cannot reach Twilio ({type(exc).__name__})") from None
    return {"message_sid": message.sid}


# -- the report -------------------------------------------------------------------------


def counts(engine, since: datetime | None) -> dict:
    """Texts asked for, sent, failed and waiting, by topic, since ``since`` (naive UTC)."""
    query = select(text_messages.c.topic, text_messages.c.sent_utc, text_messages.c.failed_utc)
    if since is not None:
        query = query.where(text_messages.c.time_utc >= since)
    totals: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for topic, sent, failed in connection.execute(query):
            outcome = "sent" if sent else "failed" if failed else "waiting"
            totals.setdefault(topic, {"sent": 0, "failed": 0, "waiting": 0})[outcome] += 1
    return totals
