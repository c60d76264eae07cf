"""Every voicemail reaches the clinic by e-mail, through a real SMTP server on loopback (aiosmtpd,
started by the test). Deterministic: the sender's passes are called with the time they run at."""
import asyncio
import email
import json
import logging
import socket
from email import policy
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from conftest import CALLER, signed_post
from ivr import calllog, create_app, voicemail_email

RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE42"
# The voicemail is left at the frozen clock's time (conftest: Monday 2026-11-02 10:00 in Dallas).
LEFT = datetime(2026, 11, 2, 16, 0)


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port():
    return free_port()


class Clock:
    """The time the senders read, moved on by the test (and by a slow server) instead of waited for."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class SlowInbox(Inbox):
    """A server that takes ``seconds`` of the clock over each e-mail (seven replies of 8 s), and
    meanwhile, during the ``during``-th e-mail, lets another process make its pass."""

    def __init__(self, clock: Clock, seconds: float, during: int = 0, meanwhile=None):
        super().__init__()
        self.clock, self.seconds, self.during, self.meanwhile = clock, seconds, during, meanwhile

    async def handle_DATA(self, server, session, envelope):
        self.clock.advance(self.seconds)
        if self.meanwhile and len(self.messages) + 1 == self.during:
            await asyncio.get_running_loop().run_in_executor(None, self.meanwhile)
        return await super().handle_DATA(server, session, envelope)


class SilentInbox(Inbox):
    """A server that never answers the end of an e-mail (until the test ends)."""

    def __init__(self):
        super().__init__()
        self.release = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):
        await self.release.wait()
        return "451 too late"


@pytest.fixture
def smtp_server(port):
    """Start an SMTP server on ``port`` (or another), with ``Inbox`` or another handler; stopped at
    the end of the test."""
    started = []

    def start(inbox=None, on_port=None):
        inbox = inbox or Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=on_port or port)
        controller.start()
        started.append((controller, inbox))
        return inbox

    yield start
    for controller, inbox in started:
        if isinstance(inbox, SilentInbox):
            controller.loop.call_soon_threadsafe(inbox.release.set)
        controller.stop()


@pytest.fixture
def config(config, database_url, port):
    config.update(DATABASE_URL=database_url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="0",
                  VOICEMAIL_EMAIL_FROM="line@clinic.example", VOICEMAIL_EMAIL_TO="desk@clinic.example, nurse@clinic.example")
    return config


def voicemail(app, sid="RE42", lang="es", seconds="75", url=RECORDING_URL):
    response = signed_post(app.test_client(), f"/ivr/voicemail/saved?lang={lang}", {
        "RecordingSid": sid, "RecordingUrl": url, "RecordingStatus": "completed",
        "RecordingDuration": seconds})
    assert response.status_code == 200
    assert calllog.flush()


def send(app, at) -> int:
    """One pass of ``app``'s sender with the clock at ``at`` (a datetime, or a Clock)."""
    return voicemail_email.sender(app).send_due(at if callable(at) else lambda: at)


def report(app) -> str:
    result = app.test_cli_runner().invoke(args=["report"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_voicemail_is_e_mailed_to_the_clinic(app, smtp_server):
    inbox = smtp_server()
    voicemail(app)
    assert "waiting" in report(app)
    assert send(app, LEFT) == 1
    [(recipients, message)] = inbox.messages
    assert recipients == ["desk@clinic.example", "nurse@clinic.example"]
    body = message.get_content()
    assert "Spanish" in message["Subject"] and "1 min 15 s" in message["Subject"]
    assert "Monday 2026-11-02 10:00 (Dallas time, America/Chicago)" in body
    assert RECORDING_URL in body and "RE42" in body
    assert CALLER.lstrip("+") not in message.as_string()
    assert "e-mailed at 2026-11-02 10:00" in report(app)
    assert send(app, LEFT + timedelta(hours=1)) == 0 and len(inbox.messages) == 1


def test_server_down_then_up_delivers_once_later(app, smtp_server, caplog):
    voicemail(app)
    assert send(app, LEFT) == 0  # nobody listens on the port yet
    assert "cannot e-mail it yet" in caplog.text
    assert send(app, LEFT + timedelta(seconds=4)) == 0  # not due: the first retry is 5 s later
    tries = [LEFT + timedelta(seconds=s) for s in (5, 15, 35, 75, 135, 195)]
    for at in tries:
        assert send(app, at) == 0
    gaps = [b - a for a, b in zip([LEFT, *tries], tries)]
    assert gaps[0] <= timedelta(seconds=10) and max(gaps) <= timedelta(seconds=60)
    assert caplog.text.count("cannot e-mail it yet") == 1
    inbox = smtp_server()
    assert send(app, tries[-1]) == 0  # not due yet
    assert send(app, tries[-1] + timedelta(seconds=60)) == 1
    assert len(inbox.messages) == 1
    assert send(app, tries[-1] + timedelta(hours=1)) == 0 and len(inbox.messages) == 1


def test_a_replayed_callback_is_still_one_e_mail(app, config, smtp_server):
    inbox = smtp_server()
    voicemail(app)
    voicemail(app)
    assert send(app, LEFT) == 1
    voicemail(create_app(config))  # replayed later, to another process
    assert send(app, LEFT + timedelta(minutes=5)) == 0
    assert len(inbox.messages) == 1


def test_after_a_restart_the_outbox_is_still_sent(app, config, smtp_server):
    voicemail(app)
    assert send(app, LEFT) == 0  # the server is down, then this process stops
    inbox = smtp_server()
    restarted = create_app(config)
    assert send(restarted, LEFT + timedelta(seconds=5)) == 1
    assert len(inbox.messages) == 1


def test_two_senders_at_once_send_one_e_mail(app, config, smtp_server):
    inbox = smtp_server()
    voicemail(app)
    other = create_app(config)
    assert send(app, LEFT) + send(other, LEFT) == 1
    assert len(inbox.messages) == 1


def test_without_smtp_settings_start_up_says_voicemails_are_only_in_the_report(config, caplog):
    caplog.set_level(logging.WARNING)
    config["SMTP_HOST"] = ""
    app = create_app(config)
    assert voicemail_email.sender(app) is None
    assert "voicemails will only appear in `flask report`" in caplog.text
    voicemail(app)
    assert "waiting" in report(app)


# -- any server speed, any RecordingSid (issue 19) ------------------------------------------


def test_a_slow_server_never_gets_an_e_mail_twice(app, config, smtp_server):
    """Issue 19: the claim ran from the start of the pass, so a later e-mail's claim had expired
    while it was still being sent, and another process sent it again."""
    clock = Clock(LEFT)
    other = create_app({**config, "SMTP_PORT": str(free_port())})  # another process, its copies counted apart
    other_inbox = smtp_server(on_port=int(other.config["SMTP_PORT"]))
    inbox = smtp_server(SlowInbox(clock, seconds=56, during=3, meanwhile=lambda: send(other, clock)))
    for sid in ("RE1", "RE2", "RE3"):
        voicemail(app, sid)
    assert send(app, clock) == 3  # the third e-mail is sent 112 s into the pass
    assert [m["Message-ID"] for _, m in inbox.messages + other_inbox.messages] == [
        "<voicemail-RE1@kyphoplasty-line>", "<voicemail-RE2@kyphoplasty-line>", "<voicemail-RE3@kyphoplasty-line>"]
    assert send(other, clock.at + timedelta(hours=1)) == 0
    assert "waiting" not in report(app)


def test_an_exchange_that_outlasts_its_attempt_is_given_up_before_the_claim_ends(app, smtp_server, monkeypatch,
                                                                               caplog):
    monkeypatch.setattr(voicemail_email, "ATTEMPT_SECONDS", 0.3)  # instead of 60: the test waits 0.3 s
    smtp_server(SilentInbox())
    voicemail(app)
    assert send(app, LEFT) == 0  # given up when the attempt's time ran out, not after 20 s per reply
    assert "not sent yet (SMTPServerDisconnected: Connection unexpectedly closed: timed out)" in report(app)
    assert voicemail_email.CLAIM_SECONDS > 60 + 20  # the real attempt, and time to note it


def test_a_claim_that_lapsed_is_no_failed_try(app, config, smtp_server, caplog):
    """A process that claimed an e-mail and vanished did not fail to send it: the log says nothing
    about failed tries when another process sends it."""
    voicemail(app)
    vanished = voicemail_email.sender(app)
    with app.extensions["ivr.calllog"].engine().connect() as connection:
        from ivr.schema import voicemail_emails

        row = connection.execute(voicemail_emails.select()).one()
    assert vanished._claim(app.extensions["ivr.calllog"].engine(), row, LEFT)
    inbox = smtp_server()
    assert send(create_app(config), LEFT + timedelta(seconds=voicemail_email.CLAIM_SECONDS - 1)) == 0
    assert send(create_app(config), LEFT + timedelta(seconds=voicemail_email.CLAIM_SECONDS)) == 1
    assert len(inbox.messages) == 1 and "failed tries" not in caplog.text


def test_after_real_failures_the_log_counts_them(app, smtp_server, caplog):
    voicemail(app)
    assert send(app, LEFT) == 0 and send(app, LEFT + timedelta(seconds=5)) == 0
    smtp_server()
    assert send(app, LEFT + timedelta(seconds=15)) == 1
    assert "e-mailed after 2 failed tries" in caplog.text


def test_a_recording_sid_with_a_line_break_still_reaches_the_clinic_cleaned(app, smtp_server, caplog):
    inbox = smtp_server()
    voicemail(app, sid="RE9\r\nBcc: someone@example.com", url=RECORDING_URL + "\r\nX: y")
    assert send(app, LEFT) == 1
    [(recipients, message)] = inbox.messages
    assert recipients == ["desk@clinic.example", "nurse@clinic.example"] and message["Bcc"] is None
    assert message["Message-ID"] == "<voicemail-RE9--Bcc--someone-example-com@kyphoplasty-line>"
    body = message.get_content()
    assert "Recording SID: RE9??Bcc: someone@example.com" in body and "were replaced with ?" in body
    assert "e-mailed at" in report(app)
    assert "outbox" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_e_mail_that_cannot_be_built_shows_in_the_report_with_the_reason(app, smtp_server, monkeypatch, caplog):
    inbox = smtp_server()
    voicemail(app)
    monkeypatch.setattr(voicemail_email.Sender, "_email", lambda self, message: 1 / 0)
    assert send(app, LEFT) == 0 and inbox.messages == []
    reason = "cannot build the e-mail: ZeroDivisionError: division by zero"
    assert f"voicemail RE42: cannot e-mail it yet ({reason})" in caplog.text and "outbox" not in caplog.text
    assert f"not sent yet ({reason})" in report(app)
    output = app.test_cli_runner().invoke(args=["report", "--format", "json"]).output
    assert json.loads(output)["voicemails"][0]["not_sent_because"] == reason
    monkeypatch.undo()  # mended: sent at the next try
    assert send(app, LEFT + timedelta(seconds=5)) == 1 and "e-mailed at" in report(app)
