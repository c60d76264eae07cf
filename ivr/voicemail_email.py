"""Every voicemail reaches the clinic by e-mail.

The call log writes each voicemail and its e-mail (a row of the outbox, voicemail_emails) in
one transaction (ivr/calllog.py), once per RecordingSid however often Twilio posts the
callback. A sender thread in each of the app's processes sends what the outbox holds through
the clinic's SMTP server and marks it sent; when the server is away it tries again after
RETRY_SECONDS (5 s, 10 s, 20 s, 40 s, then every minute) until the server accepts it, also after
a restart, since the outbox is in the database. Several processes and hosts share the work:
each e-mail is claimed by one of them (an UPDATE only one can win) before it is sent.

Exactly once, whatever the server's speed: a claim lasts CLAIM_SECONDS from the moment it is
made, and the whole SMTP exchange must end within ATTEMPT_SECONDS (each reply waits at most
what is left of it), well inside the claim, so no other process takes an e-mail that is still
being sent. ``attempts`` counts failed tries only. One limit no outbox avoids: a process that
dies (or loses the database) between the server accepting the e-mail and the database noting
it sends it again after CLAIM_SECONDS. Its Message-ID is the same both times (made from the
RecordingSid), so mail programs can tell.

A field that cannot go into an e-mail as it is (a CR or LF in a RecordingSid) is cleaned, and
the e-mail says so; an e-mail that still cannot be built waits in the outbox with the reason,
which `report` shows.

The e-mail says the language, the time in Dallas (the clinic's time zone), the length, and the
recording's link and SID: never the caller's number, which the line does not keep.
"""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from flask import Flask
from sqlalchemy import and_, select, update

from .schema import voicemail_emails, voicemails
from .script import LANGUAGE_NAMES

logger = logging.getLogger(__name__)

# Seconds before trying again after the n-th failure: the first retry within 10 s, then never
# more than a minute apart.
RETRY_SECONDS = [5, 10, 20, 40, 60]
# One SMTP exchange, all its replies together, and each reply.
ATTEMPT_SECONDS = 60
SMTP_TIMEOUT_SECONDS = 20
# A sender that claimed an e-mail and vanished (a crash) leaves it to another this long after
# the claim: an attempt, and time to note its outcome.
CLAIM_SECONDS = ATTEMPT_SECONDS + 30
# How often a sender looks for e-mails another process's voicemails left in the outbox.
POLL_SECONDS = 5
NOT_CONFIGURED_WARNING = (
    "Voicemail e-mail is off ({missing} not set): voicemails will only appear in `flask report`. "
    "Set SMTP_HOST, VOICEMAIL_EMAIL_FROM and VOICEMAIL_EMAIL_TO (see docs/production.md)."
)


def init_app(app: Flask) -> None:
    for name, default in [("SMTP_HOST", ""), ("SMTP_PORT", "587"), ("SMTP_USERNAME", ""), ("SMTP_PASSWORD", ""),
                          ("SMTP_STARTTLS", "1"), ("VOICEMAIL_EMAIL_FROM", ""), ("VOICEMAIL_EMAIL_TO", "")]:
        app.config.setdefault(name, os.environ.get(name, default))
    missing = [name for name in ("SMTP_HOST", "VOICEMAIL_EMAIL_FROM", "VOICEMAIL_EMAIL_TO") if not app.config[name]]
    if app.config.get("SERVES_CALLS", True) and missing:
        app.logger.warning(NOT_CONFIGURED_WARNING.format(missing=", ".join(missing)))
    app.extensions["ivr.voicemail_email"] = Sender(app) if not missing else None
    if not missing and app.config.get("SERVES_CALLS", True) and not app.testing:
        # Each process that answers calls sends (gunicorn also starts it in post_worker_init).
        app.before_request(lambda: start(app))


def sender(app: Flask) -> Sender | None:
    return app.extensions.get("ivr.voicemail_email")


def send_email(app: Flask, email: EmailMessage) -> None:
    """One e-mail to the clinic through its SMTP server (also call-back requests, ivr/callbacks.py);
    raises OSError or smtplib.SMTPException when it cannot."""
    sender(app)._send(email)


def start(app: Flask) -> None:
    """Start this process's sender thread (gunicorn.conf.py's post_worker_init; first request)."""
    if (each := sender(app)) is not None:
        each.start()


class Sender:
    def __init__(self, app: Flask):
        self.app = app
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    # -- one pass over the outbox: what the thread does, and what tests call --------------

    def send_due(self, clock=None) -> int:
        """Send every e-mail due now; the number sent. ``clock()``: naive UTC, read at each claim
        and each outcome (default: the app's CLOCK, the real time outside tests)."""
        clock = clock or self._now
        engine = self.app.extensions["ivr.calllog"].engine()
        with engine.connect() as connection:
            due = list(connection.execute(
                select(voicemails, voicemail_emails.c.attempts, voicemail_emails.c.next_attempt_utc)
                .join(voicemail_emails, voicemail_emails.c.recording_sid == voicemails.c.recording_sid)
                .where(voicemail_emails.c.sent_utc.is_(None), voicemail_emails.c.next_attempt_utc <= clock())
                .order_by(voicemail_emails.c.next_attempt_utc)))
        sent = 0
        for message in due:
            if not self._claim(engine, message, clock()):
                continue  # another process has it
            try:
                email = self._email(message)
            except Exception as exc:  # a bug or a field nothing cleans: said in the report, tried again
                self._failed(engine, message, clock(), f"cannot build the e-mail: {type(exc).__name__}: {exc}")
                continue
            try:
                self._send(email)
            except (OSError, smtplib.SMTPException) as exc:
                self._failed(engine, message, clock(), f"{type(exc).__name__}: {exc}")
                continue
            self._note(engine, message, sent_utc=clock(), last_error=None)
            if message.attempts:
                logger.warning("voicemail %s: e-mailed after %d failed tries", _printable(message.recording_sid),
                               message.attempts)
            sent += 1
        return sent

    def _now(self) -> datetime:
        return self.app.config["CLOCK"]().astimezone(UTC).replace(tzinfo=None)

    def _claim(self, engine, message, now: datetime) -> bool:
        """Only one process wins: the first to move next_attempt_utc from the value all of them read."""
        with engine.begin() as connection:
            return connection.execute(
                update(voicemail_emails)
                .where(and_(voicemail_emails.c.recording_sid == message.recording_sid,
                            voicemail_emails.c.sent_utc.is_(None),
                            voicemail_emails.c.next_attempt_utc == message.next_attempt_utc))
                .values(next_attempt_utc=now + timedelta(seconds=CLAIM_SECONDS))
            ).rowcount == 1

    def _failed(self, engine, message, now: datetime, error: str) -> None:
        attempts = message.attempts + 1
        wait = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1]
        error = _printable(error)[:300]
        self._note(engine, message, attempts=attempts, next_attempt_utc=now + timedelta(seconds=wait),
                   last_error=error)
        if attempts == 1:
            logger.error("voicemail %s: cannot e-mail it yet (%s); trying again every minute at most",
                         _printable(message.recording_sid), error)

    def _note(self, engine, message, **values) -> None:
        with engine.begin() as connection:
            connection.execute(update(voicemail_emails)
                               .where(voicemail_emails.c.recording_sid == message.recording_sid).values(**values))

    def _email(self, message) -> EmailMessage:
        config = self.app.config
        with self.app.app_context():
            from . import views

            zone = views.script().clinic_hours.zone
        left = message.time_utc.replace(tzinfo=UTC).astimezone(zone)
        language = LANGUAGE_NAMES.get(message.lang or "", "not chosen")
        minutes, seconds = divmod(message.seconds or 0, 60)
        length = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        email = EmailMessage()
        email["Subject"] = f"Voicemail on the Kyphoplasty line: {language}, {length}, {left:%a %b %d %H:%M}"
        email["From"] = config["VOICEMAIL_EMAIL_FROM"]
        email["To"] = ", ".join(part.strip() for part in config["VOICEMAIL_EMAIL_TO"].split(",") if part.strip())
        email["Date"] = format_datetime(datetime.now(UTC))
        # The same each time it is sent: a second copy after a crash is recognisable.
        email["Message-ID"] = f"<voicemail-{re.sub(r'[^A-Za-z0-9]', '-', message.recording_sid)}@kyphoplasty-line>"
        sid, url = _printable(message.recording_sid), _printable(message.recording_url or "")
        cleaned = "\n(Control characters in the recording's SID or link were replaced with ?.)" \
            if (sid, url) != (message.recording_sid, message.recording_url or "") else ""
        email.set_content(
            "A caller left a voicemail on the Kyphoplasty information line.\n\n"
            f"Language:      {language}\n"
            f"Left at:       {left:%A %Y-%m-%d %H:%M} (Dallas time, {zone.key})\n"
            f"Length:        {length}\n"
            f"Recording:     {url}\n"
            f"Recording SID: {sid}{cleaned}\n\n"
            "The recording is kept in the clinic's Twilio account: the link asks for the account's\n"
            "login. The caller's number is not kept by the line; Twilio's call log has it.\n")
        return email

    def _send(self, email: EmailMessage) -> None:
        config = self.app.config
        with _SMTPWithDeadline(config["SMTP_HOST"], int(config["SMTP_PORT"])) as smtp:
            if str(config["SMTP_STARTTLS"]) != "0":
                smtp.starttls(context=ssl.create_default_context())
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(email)

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="voicemail e-mail", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.send_due()
            except Exception as exc:  # the database is away: the outbox waits for it (logged once)
                if not failing:
                    logger.warning("voicemail e-mail: the outbox's database fails (%s); trying again every %d s",
                                   type(exc).__name__, POLL_SECONDS)
                failing = True
            else:
                failing = False
            time.sleep(POLL_SECONDS)


def _printable(text: str) -> str:
    """Control characters (a CR or LF that would end a header or a log line) as ?."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


class _SMTPWithDeadline(smtplib.SMTP):
    """smtplib's timeout is per reply; a server slow on every reply could make an exchange outlast
    the claim. Each step here waits at most what is left of ATTEMPT_SECONDS."""

    def __init__(self, host: str, port: int):
        self._deadline = time.monotonic() + ATTEMPT_SECONDS
        super().__init__(host, port, timeout=self._left())

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise smtplib.SMTPServerDisconnected(f"the exchange took over {ATTEMPT_SECONDS} s; given up")
        return min(left, SMTP_TIMEOUT_SECONDS)

    def send(self, s):
        if self.sock:
            self.sock.settimeout(self._left())
        super().send(s)

    def getreply(self):
        if self.sock:
            self.sock.settimeout(self._left())
        return super().getreply()
