"""Issue 18: every call ends politely within 15 webhooks, whatever the caller does.

From every menu, in both languages, open and closed, with every outcome of a transfer, a
caller holds one key down for ever (0 to 9, *, #) or stays silent. One app serves every walk
and each answer is kept by its request, so the walks share their common steps (a few seconds).
"""
from datetime import datetime

import pytest

from conftest import CHICAGO, CLINIC_NUMBER, FIXTURE_MENUS, OPEN_HOURS, PUBLIC_BASE_URL, AUTH_TOKEN, Heard, sign
from ivr import create_app

CLOSED = datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # a Saturday evening
LANG_KEY = {"en": "1", "es": "2"}
VOICE = {"en": "en-US", "es": "es-MX"}
DIAL_OUTCOMES = ["completed", "busy", "no-answer", "failed", "canceled"]
KEYS = list("1234567890*#") + [None]  # None: silence
MAX_WEBHOOKS = 15
QUESTION = {"en": "what is kyphoplasty", "es": "qué es la cifoplastia"}
# Menus a caller can be at when they start holding a key.
MENUS = ["language", "topics", "summary", "during summary", "answered", "clinic", "last chance", "two transfers"]
GOODBYE = ("Goodbye", "Hasta luego")


class Walker:
    """Signed webhooks to one app, each answer kept by its request (the line's answer depends
    only on the URL, the form and the clock)."""

    def __init__(self, app):
        self.app, self.client, self.kept = app, app.test_client(), {}

    def post(self, clock, path: str, params: dict | None = None) -> Heard:
        params = {"CallSid": "CA" + "1" * 32, "From": "+12145550111", **(params or {})}
        key = (clock, path, tuple(sorted(params.items())))
        if key not in self.kept:
            self.app.config["CLOCK"] = lambda: clock
            response = self.client.post(path, data=params,
                                        headers={"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params, AUTH_TOKEN)})
            assert response.status_code == 200, (path, response.data)
            self.kept[key] = Heard.parse(response.data)
        return self.kept[key]


@pytest.fixture(scope="module")
def walker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    # No language memory: every walk is a first-time call.
    return Walker(create_app({
        "TESTING": True, "AUDIO_DIR": str(folder / "audio"), "MENUS_DIR": str(FIXTURE_MENUS),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CLINIC_PHONE_NUMBER": CLINIC_NUMBER,
        "CLOCK": lambda: OPEN_HOURS, "DATABASE_URL": f"sqlite:///{folder / 'calls.sqlite3'}", "CALLER_HASH_KEY": "",
    }))


class Call:
    def __init__(self, walker, clock, dial: str):
        self.walker, self.clock, self.dial = walker, clock, dial
        self.webhooks, self.heard = 0, []
        self.next_action = None  # the Gather that takes the next key, if not the first

    def post(self, path, params=None) -> Heard:
        self.webhooks += 1
        answer = self.walker.post(self.clock, path, params)
        self.heard.append(answer)
        return answer

    @property
    def last(self) -> Heard:
        return self.heard[-1]

    def press(self, key: str) -> Heard:
        action, self.next_action = self.next_action or self.last.gather.get("action"), None
        return self.post(action, {"Digits": key})

    def silent(self) -> Heard:
        self.next_action = None
        return self.post(self.last.first("Redirect").text)

    def step(self, key: str | None) -> Heard:
        """What the caller does next, holding ``key`` (None: silence)."""
        last = self.last
        if last.first("Dial") is not None:
            status = self.dial
            return self.post(last.first("Dial").get("action"),
                             {"DialCallStatus": status, "DialCallDuration": "60" if status == "completed" else "0"})
        if last.first("Record") is not None:
            # A held key is no message: Twilio goes on with the verbs after the Record.
            return self.silent()
        if key is None or last.gather is None:
            return self.silent()
        return self.press(key)

    @property
    def ended(self) -> bool:
        # Nothing to wait on and nowhere to go: the call hangs up (after a Record: when nothing was recorded).
        last = self.last
        return last.gather is None and last.first("Dial") is None and last.first("Redirect") is None


def reach(call: Call, menu: str, lang: str) -> bool:
    """Take ``call`` to ``menu``; False when this menu cannot be reached so (e.g. no transfer)."""
    call.post("/voice")
    if menu == "language":
        return True
    call.press(LANG_KEY[lang])
    if menu == "summary":
        call.press("2")
        # The caller lets the summary play: the after-summary menu's Gather takes the next key.
        call.next_action = list(call.last.root.iter("Gather"))[1].get("action")
    elif menu == "during summary":
        call.press("2")
    elif menu == "answered":
        call.post(call.last.gather.get("action"), {"SpeechResult": QUESTION[lang], "Confidence": "0.9"})
    elif menu == "clinic":
        call.press("0")
        if call.last.first("Dial") is not None:
            if call.dial == "completed":
                return False
            call.step(None)
    elif menu == "last chance":
        for _ in range(3):
            call.silent()
        if call.last.first("Dial") is not None:
            if call.dial == "completed":
                return False
            call.step(None)
    elif menu == "two transfers":
        for _ in range(2):
            call.press("0")
            if call.last.first("Dial") is None or call.dial == "completed":
                return False
            call.step(None)
    return True


def walk(walker, menu: str, lang: str, clock, dial: str, key: str | None) -> Call | None:
    call = Call(walker, clock, dial)
    if not reach(call, menu, lang):
        return None
    while not call.ended:
        assert call.webhooks < MAX_WEBHOOKS, (
            f"{menu}, {lang}, key {key!r}, dial {dial}: still going after {call.webhooks} webhooks: {call.last.text}")
        call.step(key)
    return call


@pytest.mark.parametrize("clock", [OPEN_HOURS, CLOSED], ids=["open", "closed"])
@pytest.mark.parametrize("menu", MENUS)
def test_every_key_held_for_ever_ends_politely_within_15_webhooks(walker, menu, clock):
    for lang in ("en", "es"):
        for dial in DIAL_OUTCOMES:
            for key in KEYS:
                call = walk(walker, menu, lang, clock, dial, key)
                if call is None:
                    continue
                last = call.last
                answered = dial == "completed" and any(h.first("Dial") is not None for h in call.heard)
                if not answered:
                    # A goodbye or thanks, never a silent hang-up.
                    assert any(word in last.text for word in GOODBYE), (menu, lang, key, dial, last.text)
                if menu != "language" and key not in ("6", "*") and not answered:
                    # Never the other language on a chosen language's path (but its offer, in its voice); 6 and *
                    # (back to the language menu) lead to it.
                    others = {text for voice, text in (s for h in call.heard[2:] for s in h.said)
                              if voice != VOICE[lang]}
                    offers = {"For English, press 6.", "Para español, oprima 6."}
                    assert others <= offers, (menu, lang, key, dial, others - offers)


# -- 9 is never a choice ------------------------------------------------------------------------


def _nine_at(call, app, menu: str, lang: str):
    """Reach ``menu``; returns the path its Gather answers to, and the answer where 9 is pressed."""
    from conftest import Call  # noqa: F401  (the ``call`` fixture's class)

    call.answer()
    if menu == "language":
        return "/ivr/choose/language", call.heard
    call.press(LANG_KEY[lang])
    if menu == "topics":
        return "/ivr/choose/topics", call.heard
    if menu in ("summary", "during summary"):
        heard = call.press("2")
        if menu == "summary":
            call.heard = Heard(heard.root, heard.said)
            call.heard.root.remove(heard.gather)  # the caller lets the summary play
        return "/ivr/choose/recovery", call.heard
    if menu == "answered":
        call.say(QUESTION[lang])
        return "/ivr/choose/answered", call.heard
    if menu == "clinic_unavailable":
        app.config["CLINIC_PHONE_NUMBER"] = ""
    if menu == "clinic_closed":
        app.config["CLOCK"] = lambda: CLOSED
    call.press("0")
    return f"/ivr/choose/{menu}", call.heard


@pytest.mark.parametrize("lang", ["en", "es"])
def test_9_at_every_menu_says_the_911_line_at_once_outside_the_gather_then_the_same_menu(app, client, lang):
    from conftest import Call

    line = {"en": "For emergencies, hang up and dial 9 1 1.", "es": "Para emergencias, cuelgue y marque al 9 1 1."}
    for menu in ("language", "topics", "during summary", "summary", "answered", "clinic_unavailable", "clinic_closed"):
        app.config.update(CLINIC_PHONE_NUMBER=CLINIC_NUMBER, CLOCK=lambda: OPEN_HOURS)
        call = Call(client)
        path, _ = _nine_at(call, app, menu, lang)
        heard = call.press("9")
        # Said before any Gather: the "1 1" keyed after the 9 fall on no menu.
        first = heard.root[0]
        assert first.tag == "Say", (menu, heard.verbs)
        spoken = [text for _, text in heard.said[:2 if menu == "language" else 1]]
        assert spoken == ([line["en"], line["es"]] if menu == "language" else [line[lang]]), menu
        assert heard.gather.get("action").startswith(path), (menu, heard.gather.get("action"))
        assert "not one of the choices" not in heard.text and "no es una de las opciones" not in heard.text
        # The 911 line is not said again as the menu's last words.
        assert heard.text.count("9 1 1") == (2 if menu == "language" else 1), (menu, heard.text)


# -- offers the line can keep -------------------------------------------------------------------


def test_while_closed_0_is_offered_as_what_it_does_and_0_again_ends(app, call):
    app.config["CLOCK"] = lambda: CLOSED
    call.answer()
    topics = call.press("1")
    assert "To hear when the clinic opens, or to leave a message, press 0." in topics.text
    assert "To speak with the clinic" not in topics.text
    assert "To speak with the clinic" not in call.press("3").text
    heard, closed_messages = call.press("0"), 0
    for _ in range(MAX_WEBHOOKS):
        closed_messages += "The clinic is closed right now." in heard.text
        if heard.verbs[-1] == "Hangup":
            break
        heard = call.press("0")
    # What 0 does while closed, each time it is asked for, then goodbye: never 81 times.
    assert closed_messages == 3 and "Goodbye" in heard.text


def test_after_two_transfers_no_menu_or_answer_offers_0(call):
    call.answer()
    call.press("1")
    for _ in range(2):
        call.press("0")
        call.follow("Dial", {"DialCallStatus": "no-answer"})
    topics = call.press("*")
    after_summary = call.press("1")
    answer = call.say(QUESTION["en"])
    no_answer = call.say("what is the weather in Paris tomorrow")
    for heard in (topics, after_summary, answer, no_answer):
        assert "press 0" not in heard.text, heard.text


def test_after_an_unanswered_question_press_0_is_said_once_not_twice_in_a_row(call):
    call.answer()
    call.press("1")
    heard = call.say("what is the weather in Paris tomorrow")
    assert heard.text.count("press 0") == 1, heard.text
    assert "For the topics, press star." in heard.text


def test_the_fallback_keeps_the_transfers_and_the_last_words_say_what_to_do(app, call, monkeypatch):
    # Defect: /fallback started the count again, so a failing call could be dialled more than twice.
    heard = call.post("/fallback", {"ErrorCode": "11200",
                                    "ErrorUrl": "https://ivr.example.org/ivr/choose/topics?lang=es&tries=0&transfers=2"})
    heard = call.wait_silently()
    assert heard.first("Dial") is None and "no puede atender su llamada" in heard.text
    from ivr import views

    monkeypatch.setattr(views, "apology", lambda *a: 1 / 0)
    heard = call.post("/fallback", {"ErrorUrl": "https://ivr.example.org/ivr/choose/topics?lang=es&tries=0"})
    assert heard.said == [("es-MX", "Lo sentimos. Hubo un problema. Por favor, llame de nuevo. "
                                    "Para emergencias, cuelgue y marque al 9 1 1.")]
    assert heard.verbs[-1] == "Hangup"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_8_after_an_answer_says_it_again_more_slowly(call, lang):
    call.answer()
    call.press(LANG_KEY[lang])
    heard = call.say(QUESTION[lang])
    answer = heard.said[0][1]
    during, after = (gather.get("action") for gather in list(heard.root.iter("Gather"))[:2])
    assert "playing=1" in during and "playing" not in after
    for action in (during, after):
        again = call.post(action, {"Digits": "8"})
        assert again.said[0][1] == answer
        assert next(again.first("Gather").iter("prosody")).get("rate") == "70%"
    # After no answer there is nothing to say again: the menu, without a scolding.
    call.say("what is the weather in Paris tomorrow")
    menu = call.press("8")
    assert menu.said[0][1].startswith("For another question" if lang == "en" else "Si tiene otra pregunta")
