"""Call-back requests (key 5 where the clinic does not answer): encrypted at rest, e-mailed to the
clinic through a real SMTP server on loopback (aiosmtpd), listed and closed by staff, deleted after
30 days. Deterministic: the sender's passes and the purge are called with the time they run at."""
import logging
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import select

from conftest import CALL_SID, CALLER, CALLER_HASH_KEY, CHICAGO
from ivr import SettingsError, calllog, callbacks, create_app
from ivr.schema import callback_requests
from test_voicemail_email import Inbox, free_port

KEY = Fernet.generate_key().decode()
# conftest's frozen clock: Monday 2026-11-02 10:00 in Dallas.
ASKED = datetime(2026, 11, 2, 16, 0)
CALLER_HASH = calllog.caller_hash(CALLER, CALLER_HASH_KEY)


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def inbox(port):
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def config(config, database_url, port):
    config.update(DATABASE_URL=database_url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="0",
                  VOICEMAIL_EMAIL_FROM="line@clinic.example", VOICEMAIL_EMAIL_TO="desk@clinic.example",
                  CALLBACK_ENCRYPTION_KEY=KEY)
    return config


def ask(app, number=CALLER, lang="es", at=ASKED, call_sid=CALL_SID):
    callbacks.request(app, call_sid, number, lang, calllog.caller_hash(number, CALLER_HASH_KEY), at)
    assert calllog.flush()


def rows(app):
    with app.extensions["ivr.calllog"].engine().connect() as connection:
        return list(connection.execute(select(callback_requests)))


def cli(app, *args, at=None):
    if at is not None:
        app.config["CLOCK"] = lambda: at.replace(tzinfo=CHICAGO)
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_a_request_is_e_mailed_to_the_clinic_with_the_number(app, inbox):
    ask(app)
    assert callbacks.sender(app).send_due(ASKED) == 1
    [(recipients, message)] = inbox.messages
    assert recipients == ["desk@clinic.example"]
    assert "Call back request" in message["Subject"] and "Spanish" in message["Subject"]
    assert CALLER not in message["Subject"]
    body = message.get_content()
    assert f"Number:    {CALLER}" in body and "Monday 2026-11-02 10:00 (Dallas time" in body
    assert "callbacks --done 1" in body
    assert callbacks.sender(app).send_due(ASKED + timedelta(hours=1)) == 0 and len(inbox.messages) == 1


def test_the_number_is_encrypted_at_rest(app):
    ask(app)
    [row] = rows(app)
    stored = " ".join(str(value) for value in row)
    assert CALLER not in stored and CALLER.lstrip("+")[-7:] not in stored
    assert Fernet(KEY).decrypt(row.number_encrypted.encode()).decode() == CALLER
    assert row.caller_hash == CALLER_HASH


def test_one_open_request_per_number(app):
    ask(app)
    ask(app, lang="en", call_sid="CA" + "1" * 32)
    [row] = rows(app)
    assert row.lang == "es"
    assert callbacks.has_open_request(app, CALLER_HASH)
    assert not callbacks.has_open_request(app, calllog.caller_hash("+12145550111", CALLER_HASH_KEY))


def test_staff_list_the_numbers_and_close_a_request(app):
    ask(app)
    ask(app, number="+525512345678", lang="en", at=ASKED + timedelta(minutes=3), call_sid="CA" + "1" * 32)
    listed = cli(app, "callbacks")
    assert listed.exit_code == 0, listed.output
    assert CALLER in listed.output and "+525512345678" in listed.output and "waiting" in listed.output
    report = cli(app, "report").output
    assert "Open call-back requests: 2" in report and CALLER not in report
    done = cli(app, "callbacks", "--done", "1")
    assert done.exit_code == 0 and "deleted, with its number" in done.output
    assert CALLER not in cli(app, "callbacks").output
    assert not callbacks.has_open_request(app, CALLER_HASH)
    again = cli(app, "callbacks", "--done", "1")
    assert again.exit_code == 1 and "there is no open call-back request 1" in again.output


def test_requests_are_deleted_after_thirty_days(app):
    ask(app)
    ask(app, number="+12145550111", at=ASKED + timedelta(days=10), call_sid="CA" + "1" * 32)
    assert callbacks.purge_expired(app, ASKED + timedelta(days=30) - timedelta(seconds=1)) == 0
    assert callbacks.purge_expired(app, ASKED + timedelta(days=30, seconds=1)) == 1
    assert len(rows(app)) == 1
    # Listing purges too, at the line's clock.
    cli(app, "callbacks", at=datetime(2026, 12, 13, 10, 0))
    assert rows(app) == []


def test_the_mail_server_away_then_back_delivers_once(app, port, caplog):
    ask(app)
    assert callbacks.sender(app).send_due(ASKED) == 0  # nobody listens on the port yet
    assert "cannot deliver it yet" in caplog.text and CALLER not in caplog.text
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert callbacks.sender(app).send_due(ASKED + timedelta(seconds=5)) == 1
    finally:
        controller.stop()
    assert len(box.messages) == 1


def test_without_a_key_call_backs_are_off_and_start_up_says_so_once(config, caplog):
    caplog.set_level(logging.WARNING)
    config["CALLBACK_ENCRYPTION_KEY"] = ""
    app = create_app(config)
    assert callbacks.sender(app) is None
    assert caplog.text.count("Call backs are off (CALLBACK_ENCRYPTION_KEY not set)") == 1


def test_without_e_mail_call_backs_are_off(config, caplog):
    caplog.set_level(logging.WARNING)
    config["SMTP_HOST"] = ""
    assert callbacks.sender(create_app(config)) is None
    assert "Call backs are off (the voicemail e-mail's SMTP settings not set)" in caplog.text


def test_a_wrong_key_stops_start_up_saying_how_to_make_one(config):
    config["CALLBACK_ENCRYPTION_KEY"] = "not-a-key"
    with pytest.raises(SettingsError, match="Fernet.generate_key"):
        create_app(config)
