"""Every voicemail reaches the clinic by e-mail, through a real SMTP server on loopback (aiosmtpd,
started by the test). Deterministic: the sender's passes are called with the time they run at."""
import email
from email import policy
import logging
import socket
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


@pytest.fixture
def smtp_server(port):
    """Start an SMTP server on ``port``; stopped at the end of the test."""
    started = []

    def start():
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return inbox

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def config(config, database_url, port):
    config.update(DATABASE_URL=database_url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="0",
                  VOICEMAIL_EMAIL_FROM="line@clinic.example", VOICEMAIL_EMAIL_TO="desk@clinic.example, nurse@clinic.example")
    return config


def voicemail(app, sid="RE42", lang="es", seconds="75"):
    response = signed_post(app.test_client(), f"/ivr/voicemail/saved?lang={lang}", {
        "RecordingSid": sid, "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
        "RecordingDuration": seconds})
    assert response.status_code == 200
    assert calllog.flush()


def send(app, at: datetime) -> int:
    return voicemail_email.sender(app).send_due(at)


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
