"""The summary by text message (key 5), against a local stand-in for Twilio's REST API
(``responses``): never the network. The sender's passes are called with the time they run at."""
import logging
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from sqlalchemy import select

from conftest import CALL_SID, CALLER, CALLER_HASH_KEY
from ivr import calllog, create_app, outbox, text_messages
from ivr.schema import text_messages as outbox_table
from ivr.texts import GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE, segments

ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
MESSAGES = f"{API}/Messages.json"
# conftest's frozen clock: Monday 2026-11-02 10:00 in Dallas.
ASKED = datetime(2026, 11, 2, 16, 0)
CALLER_HASH = calllog.caller_hash(CALLER, CALLER_HASH_KEY)


@pytest.fixture
def config(config, database_url):
    config.update(DATABASE_URL=database_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_MESSAGING_SERVICE_SID=SERVICE)
    return config


@pytest.fixture
def twilio():
    """Twilio's REST API on loopback: each call's record (from the test's caller), and Messages
    answering as the test says."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add(responses.GET, re.compile(rf"{re.escape(API)}/Calls/CA\w+\.json"), json={"from": CALLER})
        yield api


def answers(api, *statuses):
    """Messages.json answers these statuses in turn (201: accepted)."""
    for number, status in enumerate(statuses):
        body = {"sid": f"SM{number:032d}"} if status == 201 else {"code": 20429 if status == 429 else 20500,
                                                                   "message": f"to {CALLER}", "status": status}
        api.add(responses.POST, MESSAGES, json=body, status=status)


def sent(api) -> list[dict]:
    return [{k: v[0] for k, v in parse_qs(call.request.body).items()}
            for call in api.calls if call.request.url == MESSAGES]


def ask(app, topic="recovery", lang="en", call_sid=CALL_SID, at=ASKED, caller_hash=CALLER_HASH):
    text_messages.request(app, call_sid, topic, lang, caller_hash, at)
    assert calllog.flush()


def send(app, at) -> int:
    return text_messages.sender(app).send_due(at)


def rows(app):
    with app.extensions["ivr.calllog"].engine().connect() as connection:
        return list(connection.execute(select(outbox_table).order_by(outbox_table.c.time_utc)))


def report(app) -> str:
    result = app.test_cli_runner().invoke(args=["report"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_text_is_sent_once_with_the_topic_and_the_clinic_and_nothing_about_the_caller(app, twilio):
    answers(twilio, 201)
    ask(app, lang="es")
    ask(app, lang="es")  # pressed twice: still one
    assert send(app, ASKED) == 1
    [message] = sent(twilio)
    assert message["To"] == CALLER and message["MessagingServiceSid"] == SERVICE
    assert message["Body"].startswith("Cifoplastia: sin objetos pesados seis semanas")
    assert message["Body"].endswith("Dallas Pain Relief Center (214) 555-0100, lun-vie 8-17 h.")
    assert CALLER[-4:] not in message["Body"]
    assert send(app, ASKED + timedelta(hours=1)) == 0 and len(sent(twilio)) == 1
    [row] = rows(app)
    assert row.message_sid == "SM" + "0" * 32 and ASKED <= row.sent_utc < ASKED + timedelta(seconds=5)
    assert not hasattr(row, "number") and CALLER not in str(tuple(row))
    assert "recovery" in report(app) and "Text messages (key 5)" in report(app)


def test_a_sender_number_instead_of_a_messaging_service(config, twilio):
    config.update(TWILIO_MESSAGING_SERVICE_SID="", TWILIO_SMS_FROM="+12145550199")
    app = create_app(config)
    answers(twilio, 201)
    ask(app)
    assert send(app, ASKED) == 1
    assert sent(twilio)[0]["From"] == "+12145550199"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retried_after_429_and_5xx_then_sent_once(app, twilio, status, caplog):
    answers(twilio, status, status, 201)
    ask(app)
    assert send(app, ASKED) == 0
    assert send(app, ASKED + timedelta(seconds=4)) == 0  # not due yet: the first retry is 5 s later
    assert send(app, ASKED + timedelta(seconds=5)) == 0
    assert send(app, ASKED + timedelta(seconds=14)) == 0  # 10 s after the second try
    assert send(app, ASKED + timedelta(seconds=15)) == 1
    assert len(sent(twilio)) == 3 and send(app, ASKED + timedelta(minutes=5)) == 0
    assert rows(app)[0].sent_utc is not None
    assert caplog.text.count("cannot deliver it yet") == 1
    assert CALLER not in caplog.text and CALLER.lstrip("+") not in caplog.text


def test_a_refusal_is_final_and_reported_as_failed(app, twilio, caplog):
    twilio.add(responses.POST, MESSAGES, status=400, json={"code": 21610, "message": f"{CALLER} unsubscribed"})
    ask(app)
    assert send(app, ASKED) == 0
    assert send(app, ASKED + timedelta(minutes=5)) == 0
    assert len(sent(twilio)) == 1
    [row] = rows(app)
    assert row.failed_utc is not None and "21610" in row.last_error and CALLER not in row.last_error
    assert CALLER not in caplog.text
    output = report(app)
    assert "recovery" in output.split("Text messages (key 5)")[1].splitlines()[1]


def test_given_up_after_an_hour_of_twilio_errors(app, twilio):
    for _ in range(70):
        answers(twilio, 500)
    ask(app)
    at = ASKED
    while rows(app)[0].failed_utc is None:
        send(app, at)
        at += timedelta(seconds=60)
    assert at - ASKED <= timedelta(hours=1, minutes=2)
    assert "gave up" in rows(app)[0].last_error


def test_the_network_failing_is_retried(app, twilio):
    twilio.add(responses.POST, MESSAGES, body=requests.exceptions.ConnectionError("refused"))
    answers(twilio, 201)
    ask(app)
    assert send(app, ASKED) == 0
    assert send(app, ASKED + timedelta(seconds=5)) == 1


def test_two_senders_at_once_send_one_text(app, config, twilio):
    answers(twilio, 201, 201)
    ask(app)
    other = create_app(config)
    assert send(app, ASKED) + send(other, ASKED) == 1
    assert len(sent(twilio)) == 1


def test_the_daily_limit_is_held_by_the_sender_too(app, twilio):
    answers(twilio, *[201] * 5)
    for number, topic in enumerate(["procedure", "recovery", "risks"]):
        ask(app, topic, call_sid=f"CA{number:032d}")
    ask(app, "candidates", call_sid="CA" + "9" * 32, at=ASKED + timedelta(hours=2))
    assert send(app, ASKED + timedelta(hours=2)) == 3
    assert len(sent(twilio)) == 3
    assert "3 texts in 24 hours" in rows(app)[-1].last_error
    engine = app.extensions["ivr.calllog"].engine()
    assert text_messages.sent_today(engine, CALLER_HASH, ASKED + timedelta(hours=2)) == 3
    # A day later, only the text asked for two hours after the others is still "today" (refused: not counted).
    assert text_messages.sent_today(engine, CALLER_HASH, ASKED + timedelta(hours=25)) == 0


def test_without_settings_texts_are_off_and_start_up_says_so_once(config, caplog):
    caplog.set_level(logging.WARNING)
    config["TWILIO_ACCOUNT_SID"] = ""
    app = create_app(config)
    assert text_messages.sender(app) is None
    assert caplog.text.count("Text messages are off (TWILIO_ACCOUNT_SID not set)") == 1


def test_a_staff_command_does_not_warn(config, caplog):
    caplog.set_level(logging.WARNING)
    config.update(TWILIO_ACCOUNT_SID="", SERVES_CALLS=False)
    create_app(config)
    assert "Text messages are off" not in caplog.text


def test_the_outbox_costs_a_webhook_no_database_wait(app):
    # Asking only hands a row to the call log's buffer: nothing is written until the writer runs.
    log = app.extensions["ivr.calllog"]
    held = log.held
    text_messages.request(app, CALL_SID, "risks", "en", CALLER_HASH, ASKED)
    assert log.held == held + 1


def test_a_read_past_its_budget_gives_up():
    import threading

    release = threading.Event()
    with pytest.raises(calllog.DatabaseLate):
        calllog.read_within_budget(lambda: release.wait(5), budget=0.01)
    release.set()
    assert calllog.read_within_budget(lambda: 42) == 42


@pytest.mark.parametrize("text, encoding, count", [
    ("a" * GSM7_SINGLE, "GSM-7", 1), ("a" * (GSM7_SINGLE + 1), "GSM-7", 2), ("a" * (2 * GSM7_PART), "GSM-7", 2),
    ("a" * (2 * GSM7_PART + 1), "GSM-7", 3), ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),
    # An extension character's two septets are never split between parts.
    ("a" + "€" * GSM7_PART, "GSM-7", 3), ("ñé" * 80, "GSM-7", 1),
    ("á" * UCS2_SINGLE, "UCS-2", 1), ("á" * (UCS2_SINGLE + 1), "UCS-2", 2), ("á" * (2 * UCS2_PART), "UCS-2", 2),
    ("á" * (2 * UCS2_PART + 1), "UCS-2", 3), ("🙂" * 35, "UCS-2", 1), ("🙂" * 36, "UCS-2", 2), ("", "GSM-7", 0),
])
def test_segments_are_counted_as_carriers_count_them(text, encoding, count):
    counted = segments(text)
    assert (counted.encoding, counted.count) == (encoding, count)
