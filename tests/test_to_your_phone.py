"""Key 5 walked through the call, in both languages, open and closed: the summary by text message
(sent, failed then sent, not offered) and a call back instead of a wait (confirmed, declined, asked
twice). Twilio's REST API is a local stand-in (``responses``), the clinic's mail server an aiosmtpd
on loopback; the senders' passes are called by the test."""
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from urllib.parse import parse_qs

import pytest
import responses
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import select

from conftest import CALLER, CALLER_HASH_KEY, CHICAGO, PUBLIC_BASE_URL, Call
from ivr import calllog, callbacks, create_app, text_messages
from ivr.schema import callback_requests
from ivr.schema import text_messages as texts_table
from test_voicemail_email import Inbox, free_port
from twiml_rules import problems

ACCOUNT = "AC" + "1" * 32
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
MESSAGES = f"{API}/Messages.json"
KEY = Fernet.generate_key().decode()
HOST = PUBLIC_BASE_URL.split("://")[1]
OPEN = datetime(2026, 11, 2, 10, 0, tzinfo=CHICAGO)  # conftest's: a Monday morning
CLOSED = datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # a Saturday evening
LANG_KEY = {"en": "1", "es": "2"}
SAID = {
    "text_offer": {"en": "To get this by text message, press 5.", "es": "Para recibir esto en un mensaje de texto, oprima 5."},
    "sending": {"en": "I will send it now.", "es": "Se lo envío ahora."},
    "limit": {"en": "all the text messages the line can send it today", "es": "todos los mensajes de texto"},
    "call_back_offer": {"en": "To have the clinic call you back at this number, press 5.",
                        "es": "Para que la clínica le devuelva la llamada a este número, oprima 5."},
    "confirm": {"en": "The clinic will call you back at 2 1 4, 5 5 5, 9 8 7 6. If that is right, press 5.",
                "es": "La clínica le devolverá la llamada al 2 1 4, 5 5 5, 9 8 7 6. Si es correcto, oprima 5."},
    "taken": {"en": "The clinic will call you back at this number. Goodbye.",
              "es": "La clínica le devolverá la llamada a este número. Hasta luego."},
    "declined": {"en": "All right, no call back.", "es": "Muy bien, sin llamada de la clínica."},
    "already": {"en": "The clinic already has your request", "es": "La clínica ya tiene su solicitud"},
    "not_a_choice": {"en": "That is not one of the choices.", "es": "Esa no es una de las opciones."},
}


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
    config.update(DATABASE_URL=database_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_MESSAGING_SERVICE_SID="MG" + "2" * 32,
                  SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="0",
                  VOICEMAIL_EMAIL_FROM="line@clinic.example", VOICEMAIL_EMAIL_TO="desk@clinic.example",
                  CALLBACK_ENCRYPTION_KEY=KEY)
    return config


@pytest.fixture
def twilio():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add(responses.GET, re.compile(rf"{re.escape(API)}/Calls/CA\w+\.json"), json={"from": CALLER})
        yield api


class Caller(Call):
    """A caller with their own number and call SID."""

    def __init__(self, client, number=CALLER, sid="CA" + "0" * 32):
        super().__init__(client)
        self.number, self.sid = number, sid

    def post(self, path, params=None):
        heard = super().post(path, {"CallSid": self.sid, "From": self.number, **(params or {})})
        # TwiML Twilio accepts, leading somewhere real (the crawl covers call backs, not texts).
        assert not problems(ET.tostring(heard.root), self.client.application, HOST)
        return heard


def press_at_menu(call, key):
    """A key pressed once the menu after a summary is said (not during the summary)."""
    return call.post(list(call.heard.root.iter("Gather"))[-1].get("action"), {"Digits": key})


def at(app, moment):
    app.config["CLOCK"] = lambda: moment


def menu_said(heard) -> str:
    """What the menu's Gather says (after the summary, which plays in its own keys-only Gather)."""
    said = [" ".join(" ".join(" ".join(say.itertext()).split()) for say in gather.iter("Say"))
            for gather in heard.root.iter("Gather")]
    # The 911 line follows in a Gather of its own until the caller has heard it once.
    return [text for text in said if "9 1 1" not in text][-1]


def summary(call, lang, key="2"):
    call.answer()
    call.press(LANG_KEY[lang])
    return call.press(key)


def outbox_rows(app, table):
    calllog.flush()
    with app.extensions["ivr.calllog"].engine().connect() as connection:
        return list(connection.execute(select(table)))


def sent_bodies(api):
    return [parse_qs(call.request.body)["Body"][0] for call in api.calls if call.request.url == MESSAGES]


# -- the summary by text message -------------------------------------------------------


@pytest.mark.parametrize("moment", [OPEN, CLOSED], ids=["open", "closed"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_text_is_offered_after_the_summary_and_sent_once(app, client, twilio, lang, moment):
    at(app, moment)
    call = Caller(client)
    heard = summary(call, lang)
    gathers = list(heard.root.iter("Gather"))
    # The summary first, in its keys-only Gather; the offer closes the menu after it.
    assert "5" not in " ".join(gathers[0].itertext())
    assert menu_said(heard).endswith(SAID["text_offer"][lang])
    heard = call.press("5")
    assert heard.said[0][1] == SAID["sending"][lang]
    assert heard.languages == {"en-US" if lang == "en" else "es-MX"}
    assert SAID["text_offer"][lang] not in heard.text  # that topic is on its way
    twilio.add(responses.POST, MESSAGES, json={"sid": "SM1"}, status=201)
    [row] = outbox_rows(app, texts_table)
    assert (row.topic, row.lang) == ("recovery", lang)
    assert text_messages.sender(app).send_due(row.time_utc) == 1
    [body] = sent_bodies(twilio)
    assert body.startswith("Kyphoplasty recovery" if lang == "en" else "Cifoplastia: sin objetos pesados")


def test_failed_then_sent(app, client, twilio):
    call = Caller(client)
    summary(call, "es", "3")
    call.press("5")
    twilio.add(responses.POST, MESSAGES, json={"code": 20429}, status=429)
    twilio.add(responses.POST, MESSAGES, json={"sid": "SM1"}, status=201)
    [row] = outbox_rows(app, texts_table)
    sender = text_messages.sender(app)
    assert sender.send_due(row.time_utc) == 0
    assert sender.send_due(row.time_utc.replace(second=5)) == 1
    assert sent_bodies(twilio)[0].startswith("Cifoplastia, riesgos poco comunes")
    assert "text messages sent,risks,1" in app.test_cli_runner().invoke(args=["report", "--format", "csv"]).output


def test_another_topic_is_offered_but_not_the_one_texted(client, twilio):
    call = Caller(client)
    summary(call, "en")
    call.press("5")
    heard = call.press("2")  # recovery again
    assert SAID["text_offer"]["en"] not in menu_said(heard)
    heard = call.press("3")
    assert menu_said(heard).endswith(SAID["text_offer"]["en"])


def test_at_most_three_texts_a_call(client, twilio):
    call = Caller(client)
    summary(call, "en", "1")
    for key in "5", "2", "5", "3", "5":
        heard = call.press(key)
    heard = call.press("4")
    assert SAID["text_offer"]["en"] not in heard.text
    again = press_at_menu(call, "5").text
    assert SAID["not_a_choice"]["en"] not in again and SAID["sending"]["en"] not in again


def test_the_daily_limit_of_a_number(app, client, twilio):
    hashed = calllog.caller_hash(CALLER, CALLER_HASH_KEY)
    for number, topic in enumerate(["procedure", "recovery", "risks"]):
        text_messages.request(app, f"CA{number + 1:032d}", topic, "es", hashed, OPEN)
    calllog.flush()
    call = Caller(client)
    summary(call, "es", "4")
    heard = call.press("5")
    assert SAID["limit"]["es"] in heard.text and SAID["sending"]["es"] not in heard.text
    assert SAID["text_offer"]["es"] not in heard.text
    assert SAID["text_offer"]["es"] not in call.press("1").text  # not again in this call
    assert len(outbox_rows(app, texts_table)) == 3


@pytest.mark.parametrize("number", ["Anonymous", "Restricted", "", "+266696687", "+18005551234", "+442079460000"],
                         ids=["anonymous", "restricted", "empty", "made-up", "toll-free", "abroad"])
def test_not_offered_for_a_withheld_or_textless_number(app, client, number):
    call = Caller(client, number=number)
    heard = summary(call, "en")
    assert "text message" not in heard.text
    # 5 is no choice here: the menu again, without a scolding (keys mean the same everywhere).
    again = press_at_menu(call, "5").text
    assert SAID["not_a_choice"]["en"] not in again and "press 8" in again
    assert outbox_rows(app, texts_table) == []


def test_not_offered_without_the_settings(config, twilio):
    config["TWILIO_ACCOUNT_SID"] = ""
    call = Caller(create_app(config).test_client())
    assert "text message" not in summary(call, "en").text


def test_five_while_the_summary_plays_is_no_scolding_where_nothing_is_offered(client):
    call = Caller(client, number="Anonymous")
    summary(call, "en")
    keys_only = call.heard.gather.get("action")
    heard = call.post(keys_only, {"Digits": "5"})
    assert SAID["not_a_choice"]["en"] not in heard.text


# -- a call back instead of a wait -------------------------------------------------------


def clinic_menu(app, call, lang, moment):
    """Reach the menu for when the clinic does not answer (open) or is closed."""
    at(app, moment)
    call.answer()
    call.press(LANG_KEY[lang])
    heard = call.press("0")
    if moment == OPEN:
        heard = call.follow("Dial", {"DialCallStatus": "no-answer"})
    return heard


@pytest.mark.parametrize("moment", [OPEN, CLOSED], ids=["open", "closed"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_call_back_confirmed_reaches_the_clinic(app, client, inbox, lang, moment):
    call = Caller(client)
    heard = clinic_menu(app, call, lang, moment)
    assert heard.text.endswith(SAID["call_back_offer"][lang])
    heard = call.press("5")
    assert SAID["confirm"][lang] in heard.text and heard.languages == {"en-US" if lang == "en" else "es-MX"}
    heard = call.press("5")
    assert heard.text.endswith(SAID["taken"][lang]) and heard.verbs[-1] == "Hangup"
    [row] = outbox_rows(app, callback_requests)
    assert row.lang == lang and CALLER not in row.number_encrypted
    assert callbacks.sender(app).send_due(row.time_utc) == 1
    [(_, message)] = inbox.messages
    assert f"Number:    {CALLER}" in message.get_content()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_call_back_declined_goes_back_to_the_menu(app, client, lang):
    call = Caller(client)
    clinic_menu(app, call, lang, CLOSED)
    call.press("5")
    heard = call.press("*")
    assert heard.said[0][1] == SAID["declined"][lang]
    assert SAID["call_back_offer"][lang] not in heard.text  # asked once
    assert "7" in heard.text  # the closed menu again: leave a message
    assert outbox_rows(app, callback_requests) == []


def test_silence_at_the_question_is_no(app, client):
    call = Caller(client)
    clinic_menu(app, call, "en", OPEN)
    call.press("5")
    heard = call.wait_silently()
    assert heard.said[0][1] == SAID["declined"]["en"]
    assert outbox_rows(app, callback_requests) == []


def test_another_key_at_the_question_means_what_it_means_at_the_menu(app, client):
    call = Caller(client)
    clinic_menu(app, call, "es", OPEN)
    call.press("5")
    assert call.press("7").first("Record") is not None  # leave a message instead
    assert outbox_rows(app, callback_requests) == []


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_second_request_hears_the_clinic_already_has_one(app, client, lang):
    first = Caller(client)
    clinic_menu(app, first, lang, OPEN)
    first.press("5")
    first.press("5")
    calllog.flush()
    again = Caller(client, sid="CA" + "7" * 32)
    clinic_menu(app, again, lang, CLOSED)
    heard = again.press("5")
    assert SAID["already"][lang] in heard.text and SAID["call_back_offer"][lang] not in heard.text
    assert len(outbox_rows(app, callback_requests)) == 1


@pytest.mark.parametrize("number", ["Anonymous", "", "+266696687", "+18005551234"])
def test_no_call_back_for_a_withheld_number(app, client, number):
    call = Caller(client, number=number)
    assert "call you back" not in clinic_menu(app, call, "en", OPEN).text


def test_no_call_back_without_a_key(config):
    config["CALLBACK_ENCRYPTION_KEY"] = ""
    app = create_app(config)
    call = Caller(app.test_client())
    assert "call you back" not in clinic_menu(app, call, "en", CLOSED).text
