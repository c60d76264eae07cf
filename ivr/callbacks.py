"""A call back instead of a wait: where the clinic does not answer or is closed, a caller can ask
the clinic to call them back at the number they call from (key 5, then 5 again to confirm).

The number has to reach staff, so here, and only here, the line keeps a caller's number: encrypted
at rest with Fernet (the ``cryptography`` package; the key, CALLBACK_ENCRYPTION_KEY, comes from the
environment and never from the database), in the table callback_requests, with the keyed hash of
the number (CALLER_HASH_KEY) so that a number has at most one open request. A request is deleted,
number and all, when staff mark it done (``flask callbacks --done ID``) or after KEPT_DAYS.

The request reaches the clinic like a voicemail: as a "call back" e-mail through the voicemail
e-mail's SMTP settings, from an outbox (ivr/outbox.py) written by the call log's writer, and in
``report`` as a list of open requests. The e-mail carries the number (staff must call it), the
caller's language and when they asked.

Settings: CALLBACK_ENCRYPTION_KEY, CALLER_HASH_KEY and the voicemail e-mail's SMTP_* settings.
Without any of them, call backs are not offered, and start-up says so once.
"""
from __future__ import annotations

import logging
import os
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import click
from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, Flask, current_app, g
from flask import request as webhook
from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError

from . import SettingsError, offers, outbox, voicemail_email
from .calllog import caller_hash, read_within_budget
from .schema import callback_requests
from .script import LANGUAGE_NAMES
from .simulator import SIMULATED_CALL

logger = logging.getLogger(__name__)

bp = Blueprint("callbacks", __name__, cli_group=None)

KEPT_DAYS = 30
MAKE_A_KEY = 'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
NOT_CONFIGURED_WARNING = (
    "Call backs are off ({missing} not set): callers who cannot reach the clinic are not offered a call "
    "back (key 5). See docs/production.md, Call backs."
)


def missing_settings(app: Flask) -> list[str]:
    missing = [name for name in ("CALLBACK_ENCRYPTION_KEY", "CALLER_HASH_KEY") if not app.config.get(name)]
    if voicemail_email.sender(app) is None:
        missing.append("the voicemail e-mail's SMTP settings")
    return missing


def init_app(app: Flask) -> None:
    """After voicemail_email.init_app: the requests go out through its SMTP settings."""
    app.config.setdefault("CALLBACK_ENCRYPTION_KEY", os.environ.get("CALLBACK_ENCRYPTION_KEY", ""))
    if app.config["CALLBACK_ENCRYPTION_KEY"]:
        fernet(app)  # a wrong key stops start-up, saying how to make one
    app.register_blueprint(bp)
    app.extensions["ivr.call_back_open"] = lambda number: open_for_number(app, number)
    missing = missing_settings(app)
    if missing and app.config.get("SERVES_CALLS", True):
        app.logger.warning(NOT_CONFIGURED_WARNING.format(missing=", ".join(missing)))
    if missing:
        app.extensions["ivr.callbacks"] = None
        return
    sender = outbox.Sender(app, callback_requests, "call-back request", lambda row: _deliver(app, row),
                           give_up=timedelta(days=KEPT_DAYS), before_pass=lambda now: purge_expired(app, now))
    app.extensions["ivr.callbacks"] = sender
    outbox.start_with_requests(app, sender)


def sender(app: Flask) -> outbox.Sender | None:
    return app.extensions.get("ivr.callbacks")


def fernet(app: Flask) -> Fernet:
    try:
        return Fernet(app.config["CALLBACK_ENCRYPTION_KEY"])
    except ValueError:
        raise SettingsError("CALLBACK_ENCRYPTION_KEY is not a Fernet key (32 bytes, url-safe base64, 44 "
                            f"characters); make one with: {MAKE_A_KEY}") from None


def _engine(app: Flask):
    return app.extensions["ivr.calllog"].engine()


# -- what a webhook does -----------------------------------------------------------------


def request(app: Flask, call_sid: str, number: str, lang: str, hashed: str, now: datetime) -> None:
    """Ask the clinic to call ``number`` back; never waits for the database. A number that has an
    open request already keeps that one (the call log's writer adds nothing)."""
    at = outbox.utc_naive(now)
    app.extensions["ivr.calllog"].add_to_outbox(callback_requests, {
        "caller_hash": hashed, "number_encrypted": fernet(app).encrypt(number.encode()).decode(),
        "call_sid": call_sid, "lang": lang, "time_utc": at, "next_attempt_utc": at, "attempts": 0})


def open_for_number(app: Flask, number: str | None) -> bool | None:
    """For a webhook: whether this number has an open request, or None if the database does not
    answer within the webhook's budget (calllog.read_within_budget; then a second request adds nothing anyway)."""
    hashed = caller_hash(number, app.config["CALLER_HASH_KEY"])
    if hashed is None:
        return None
    try:
        return read_within_budget(lambda: has_open_request(app, hashed))
    except Exception as exc:
        logger.warning("call backs: cannot look for an open request (%s)", type(exc).__name__)
        return None


@bp.after_app_request
def keep_the_request(response):
    """The caller confirmed: the request, held for the call log's writer. Nothing here may fail the call."""
    step = g.get("ivr_step")
    if isinstance(step, offers.CallBackTaken) and response.status_code == 200 \
            and not webhook.environ.get(SIMULATED_CALL):
        try:
            app = current_app._get_current_object()
            number = webhook.form.get("From", "")
            request(app, webhook.form.get("CallSid", ""), number, step.lang,
                    caller_hash(number, app.config["CALLER_HASH_KEY"]), app.config["CLOCK"]())
        except Exception:
            logger.exception("call backs: cannot keep the request")
    return response


def has_open_request(app: Flask, caller_hash: str) -> bool:
    query = select(callback_requests.c.id).where(callback_requests.c.caller_hash == caller_hash)
    with _engine(app).connect() as connection:
        return connection.execute(query).first() is not None


# -- the e-mail --------------------------------------------------------------------------


def number_of(app: Flask, row: Row) -> str | None:
    """The request's number, or None if this key cannot read it (the key was changed)."""
    try:
        return fernet(app).decrypt(row.number_encrypted.encode()).decode()
    except InvalidToken:
        return None


def _zone(app: Flask):
    from . import views

    with app.app_context():
        return views.script().clinic_hours.zone


def _deliver(app: Flask, row: Row) -> None:
    number = number_of(app, row)
    if number is None:
        raise outbox.Refused("the number cannot be read with this CALLBACK_ENCRYPTION_KEY")
    config = app.config
    asked = row.time_utc.replace(tzinfo=UTC).astimezone(zone := _zone(app))
    language = LANGUAGE_NAMES.get(row.lang or "", "not chosen")
    email = EmailMessage()
    email["Subject"] = f"Call back request on the Kyphoplasty line: {language}, {asked:%a %b %d %H:%M}"
    email["From"] = config["VOICEMAIL_EMAIL_FROM"]
    email["To"] = ", ".join(part.strip() for part in config["VOICEMAIL_EMAIL_TO"].split(",") if part.strip())
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = f"<callback-{row.id}-{row.call_sid}@kyphoplasty-line>"
    email.set_content(
        "A caller asked the clinic to call them back, from the Kyphoplasty information line.\n\n"
        f"Number:    {number}\n"
        f"Language:  {language}\n"
        f"Asked at:  {asked:%A %Y-%m-%d %H:%M} (Dallas time, {zone.key})\n"
        f"Request:   {row.id}\n\n"
        f"When the clinic has called back: flask --app app callbacks --done {row.id}\n"
        f"The line deletes the request, and the number with it, then, or after {KEPT_DAYS} days.\n")
    try:
        voicemail_email.send_email(app, email)
    except (OSError, smtplib.SMTPException) as exc:
        raise outbox.Retry(f"{type(exc).__name__}: {exc}") from None


# -- keeping, listing and closing requests -----------------------------------------------


def purge_expired(app: Flask, now: datetime) -> int:
    """Delete requests older than KEPT_DAYS; how many."""
    cutoff = outbox.utc_naive(now) - timedelta(days=KEPT_DAYS)
    with _engine(app).begin() as connection:
        return connection.execute(delete(callback_requests).where(callback_requests.c.time_utc < cutoff)).rowcount


def open_requests(engine) -> list[Row]:
    with engine.connect() as connection:
        return list(connection.execute(select(callback_requests).order_by(callback_requests.c.time_utc)))


@bp.cli.command("callbacks")
@click.option("--done", type=int, metavar="ID", help="The clinic has called this request back: delete it.")
def callbacks_command(done: int | None) -> None:
    """Open call-back requests, with each caller's number; --done ID closes one (deletes it)."""
    from . import views

    app = current_app._get_current_object()
    try:
        purge_expired(app, views.now())
        if done is not None:
            with _engine(app).begin() as connection:
                deleted = connection.execute(delete(callback_requests).where(callback_requests.c.id == done)).rowcount
            if not deleted:
                raise click.ClickException(f"there is no open call-back request {done} (flask --app app "
                                           "callbacks lists them)")
            click.echo(f"Call-back request {done} is done: deleted, with its number.")
            return
        requests = open_requests(_engine(app))
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the call-back requests: {type(exc).__name__}") from None
    if not requests:
        click.echo("No open call-back requests.")
        return
    readable = bool(app.config.get("CALLBACK_ENCRYPTION_KEY"))
    zone = views.script().clinic_hours.zone
    click.echo(f"Open call-back requests ({len(requests)}), oldest first; times in {zone.key}:")
    for row in requests:
        number = (number_of(app, row) if readable else None) or "(set CALLBACK_ENCRYPTION_KEY to read it)"
        asked = row.time_utc.replace(tzinfo=UTC).astimezone(zone)
        emailed = f"e-mailed at {row.sent_utc.replace(tzinfo=UTC).astimezone(zone):%H:%M}" if row.sent_utc else "waiting"
        click.echo(f"  {row.id:>4}  {asked:%Y-%m-%d %H:%M}  {LANGUAGE_NAMES.get(row.lang or '', 'not chosen'):<7}  "
                   f"{number}  {emailed}")
    click.echo("When the clinic has called one back: flask --app app callbacks --done ID")
