"""Twilio webhooks: turn each step of the call flow into TwiML.

Every webhook is signed by Twilio (checked in ``signatures.py``) and every failure
becomes a spoken apology, never an HTTP 500.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, g, has_request_context, request, url_for
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from . import asking, audio, flow, hours, offers, signatures
from .checks import mentioned_keys
from .guard import quoted
from .script import BACK_KEY, CLINIC, CLINIC_KEY, LANGUAGE_MENU, LANGUAGES, SLOW_SUFFIX, Script

bp = Blueprint("ivr", __name__)

# Natural neural voices, a little slower than normal for older callers.
VOICES = {"en": ("Polly.Joanna-Neural", "en-US"), "es": ("Polly.Mia-Neural", "es-MX")}
SPEAKING_RATE = "90%"
# "To hear it again more slowly": Twilio's voice slower still (recordings: gTTS's slow=True).
SLOW_SPEAKING_RATE = "70%"
# Seconds to wait for a key after a menu: older callers answer slowly.
ANSWER_TIMEOUT = 7
# Twilio's speech model for where callers ask questions in their own words (see ask()).
QUESTION_SPEECH_MODEL = "phone_call"
DIAL_TIMEOUT = 25
VOICEMAIL_MAX_SECONDS = 120
# Last words when everything else failed (even the scripts may be unreadable); everything else
# lives in ivr/menus/. The call ends after them, so they say what to do next.
FALLBACK_APOLOGY = {
    "en": "We are sorry. Something went wrong. Please call again. For emergencies, hang up and dial 9 1 1.",
    "es": "Lo sentimos. Hubo un problema. Por favor, llame de nuevo. Para emergencias, cuelgue y marque al 9 1 1.",
}
CONNECTED_DIAL_STATUSES = {"completed", "answered"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def script() -> Script:
    """The script of this call: the version its URL names, else the newest valid one."""
    if "ivr_script" not in g:
        version = request.args.get("v") if has_request_context() else None
        g.ivr_script_version, g.ivr_script = current_app.extensions["ivr.scripts"].get(version)
    return g.ivr_script


# What a call has heard that is said only once (HEARD), carried in its URLs (``heard``): the
# emergency sentence, each language's welcome (flow.WELCOME), the offer of the other language,
# and "last": the tries ran out once (a person or the last offer); the next time, goodbye.
EMERGENCY_HEARD, SWITCH_OFFERED, PATIENCE_ENDED = "911", "switch", "last"
HEARD = {EMERGENCY_HEARD, SWITCH_OFFERED, PATIENCE_ENDED, *LANGUAGES}
# Said before a menu repeated after silence or a key that is not a choice: at its first repeat
# only; the second time the menu alone, and when the tries run out, no apology before the clinic.
APOLOGIES = ("no_input", "invalid_choice")


@bp.url_defaults
def keep_call_state(endpoint, values):
    # Every next step of a call names the script version it started with (script_store.py),
    # and carries the call's state: transfers to the clinic, empty messages, what was heard
    # once, and the key pressed last (how many times in a row).
    if "ivr_script_version" in g:
        values.setdefault("v", g.ivr_script_version)
    if has_request_context():
        for name, value in call_state():
            if value:
                values.setdefault(name, value)


def call_state() -> tuple[tuple[str, object], ...]:
    # Key 5's state too: this call's texts, a call back refused.
    return (("transfers", _transfers()), ("empty", _empty()), ("heard", _encode(_heard())), ("same", _same()),
            *_phone_state().items())


def _encode(heard) -> str:
    return ".".join(sorted(heard))


def _heard() -> frozenset[str]:
    if "ivr_heard" not in g:
        g.ivr_heard = frozenset(request.args.get("heard", "").split(".")) & HEARD
    return g.ivr_heard


def _hear(*things: str) -> None:
    """From now on, this call's URLs say these were heard."""
    g.ivr_heard = _heard() | set(things)


def _same() -> str:
    """The key pressed last and how many times in a row ("13": 1, three times)."""
    if "ivr_same" not in g:
        g.ivr_same = request.args.get("same", "")[:2]
    return g.ivr_same


def _same_key(digits: str) -> int:
    """How many times in a row ``digits`` has now been pressed (noted for the next step)."""
    last = _same()
    count = (int(last[1]) if last[:1] == digits and last[1:2].isdigit() else 0) + 1
    g.ivr_same = f"{digits}{min(count, 9)}" if len(digits) == 1 else ""
    return count


def twiml(response: VoiceResponse | str) -> Response:
    return Response(str(response), mimetype="text/xml")


def now():
    return current_app.config["CLOCK"]()


# Steps whose TwiML depends only on the scripts and the recordings, not on the caller, the
# time or the clinic's line; the closed-clinic menu says when the clinic opens next, and a
# goodbye becomes a transfer while the clinic is open.
SAME_FOR_EVERY_CALLER = (flow.Ask, flow.Summary)
BUILT_PER_CALL = {"clinic_closed"}
# Far more than the scripts' menus x languages x tries x leads of a few script versions.
MAX_RENDERED = 1000
_PLAYED = re.compile(rf"<Play>[^<]*?({audio.FILE_NAME.pattern})</Play>")


def answer(step: flow.Step) -> Response:
    """The TwiML for ``step``. Building it costs more than the rest of a webhook, so menus and
    summaries are built once per version of the scripts and audio build and reused (see ``make bench``), as long as every recording they play is still there and
    intact: a recording can vanish or be damaged without the manifest changing."""
    if not isinstance(step, SAME_FOR_EVERY_CALLER) or getattr(step, "at", None) in BUILT_PER_CALL:
        return twiml(render(step))
    g.ivr_step = step  # as render() does, for the call log
    script()  # the version of the scripts this call speaks (g.ivr_script_version)
    key = (g.ivr_script_version, audio.library().stamp(), _recordings_host(), call_state(), clinic_is_open(), step,
           _phone_offers(step))
    rendered = current_app.extensions.setdefault("ivr.rendered", {})
    xml, played = rendered.get(key, (None, ()))
    if xml is None or not all(audio.library().listed(file) for file in played):
        xml = str(render(step))
        if len(rendered) >= MAX_RENDERED:  # old versions' answers
            rendered.clear()
        rendered[key] = xml, _PLAYED.findall(xml)
    return twiml(xml)


def _recordings_host() -> str | None:
    """The host in recordings' URLs: the request's only when no setting names it (rebuilding
    ``request.host_url`` cost a sixth of a cached answer)."""
    config = current_app.config
    return None if config["AUDIO_BASE_URL"] or config["PUBLIC_BASE_URL"] else request.host_url


# -- what the caller hears -----------------------------------------------------


def speak(parent, prompt_id: str, lang: str | None) -> None:
    """One prompt in ``lang``, or in every language, one after the other, before the caller
    has chosen.

    Its recording plays if there is one of exactly these words; otherwise Twilio says them.
    """
    for each in [lang] if lang else LANGUAGES:
        speak_text(parent, prompt_id, each, script().text(prompt_id, each))


def speak_text(parent, prompt_id: str, lang: str, text: str) -> None:
    if url := audio.recording_url(prompt_id, lang, text):
        parent.play(url)
    else:
        say_text(parent, text, lang, SLOW_SPEAKING_RATE if prompt_id.endswith(SLOW_SUFFIX) else SPEAKING_RATE)


def say_text(parent, text: str, lang: str, rate: str = SPEAKING_RATE) -> None:
    voice, language = VOICES[lang]
    prosody = parent.say(voice=voice, language=language).prosody(rate=rate)
    # One SSML sentence each, so the voice pauses between short sentences.
    for sentence in _SENTENCE_END.split(text.strip()):
        prosody.s(sentence)


def render(step: flow.Step, response: VoiceResponse | None = None) -> VoiceResponse:
    response = response or VoiceResponse()
    g.ivr_step = step  # the call log (ivr/calllog.py) records the last step rendered
    match step:
        case flow.Ask() | flow.Summary():
            ask(response, step)
        case asking.Answer(entry=entry, lang=lang, slow=slow):
            # Keys only while the answer plays, as during a summary; then the menu after an answer.
            # Its entry travels in the URLs, for 8 (again, more slowly).
            keys_only = response.gather(
                input="dtmf", method="POST", num_digits=1, finish_on_key="", timeout=1, action_on_empty_result=False,
                action=url_for(".choose", at=flow.ANSWERED, lang=lang, tries=0, playing=1,
                               **({"entry": entry} if entry else {})))
            prompt_id = f"answer.{entry}{SLOW_SUFFIX if slow else ''}" if entry else "question.no_answer"
            offered = speak_offers(keys_only, prompt_id, lang)
            # A key the answer just offered is not offered again at once ("press 0" twice in a row).
            ask(response, flow.Ask(flow.ANSWERED, lang, answer=entry), offered)
        case asking.Emergency(lang=lang):
            emergency(response, lang)
        case asking.Confirm(entry=entry, lang=lang):
            confirm(response, entry, lang)
        case flow.Transfer():
            transfer(response, step)
        case flow.Voicemail(lang=lang):
            speak(response, "voicemail", lang)
            response.record(
                action=url_for(".voicemail_done", lang=lang), max_length=VOICEMAIL_MAX_SECONDS,
                finish_on_key="#", play_beep=True, timeout=10,
                recording_status_callback=url_for("calllog.voicemail_saved", lang=lang),
                recording_status_callback_method="POST",
            )
            # Reached only when nothing was recorded.
            nothing_recorded(response, lang)
        case offers.SendText(topic=topic, lang=lang):
            send_text(response, topic, lang)
        case offers.ConfirmCallBack(lang=lang, back=back):
            confirm_call_back(response, lang, back)
        case offers.CallBackTaken(lang=lang):
            speak(response, "phone.call_back_taken", lang)
            response.hangup()
        case offers.CallBackDeclined(lang=lang, back=back):
            speak(response, "phone.call_back_declined", lang)
            g.ivr_no_call_back = "1"
            ask(response, flow.Ask(back, lang))
        case flow.Goodbye(lang=lang, lead=lead, offered=offered):
            # The tries ran out: a person while the clinic answers (at most MAX_TRANSFERS times a
            # call), else one last offer to leave a message, said with when the clinic opens
            # (unless the caller was just offered one). That happens once a call: the next
            # time, and after the last offer, thanks and goodbye.
            if lead and not offered and PATIENCE_ENDED not in _heard():
                _hear(PATIENCE_ENDED)
                if clinic_answers() and _transfers() < flow.MAX_TRANSFERS:
                    g.ivr_step = flow.Transfer(lang)
                    transfer(response, flow.Transfer(lang), lead)
                else:
                    # Its first words say why (closed, or cannot take the call) and the 911 line.
                    closed = not clinic_is_open()
                    render(flow.Ask("clinic_closed" if closed else "clinic_unavailable", lang, flow.MAX_TRIES),
                           response)
            else:
                if lead == flow.EMERGENCY:
                    speak(response, "emergency", lang)
                speak(response, "goodbye", lang)
                response.hangup()
    return response


def nothing_recorded(response: VoiceResponse, lang: str | None) -> None:
    """The caller chose to leave a message and said nothing: back to the topics, once a call;
    the second time, goodbye (a caller pressing 7 again and again is never kept on the line)."""
    speak(response, "voicemail_empty", lang)
    if _empty() + 1 >= flow.MAX_EMPTY_MESSAGES:
        speak(response, "goodbye", lang)
        response.hangup()
    else:
        response.redirect(url_for(".menu", at="topics", lang=lang, empty=_empty() + 1))


def emergency(response: VoiceResponse, lang: str | None) -> None:
    """The 911 sentence (in every language before one is chosen), outside a Gather so nothing cuts
    it off; then the topics and the clinic (before a language: the language menu, with 0)."""
    speak(response, "question.emergency", lang)
    _hear(EMERGENCY_HEARD)
    ask(response, flow.Ask("topics", lang) if lang else flow.Ask(LANGUAGE_MENU, None), invite=False)


def confirm(response: VoiceResponse, entry: str, lang: str) -> None:
    """ "Did you ask about ...? Say yes or press 1.": a Gather of its own, where 1 means yes."""
    at = f"{flow.CONFIRM}{entry}"
    gather = response.gather(
        input="dtmf speech", action=url_for(".choose", at=at, lang=lang, tries=0), method="POST", num_digits=1,
        finish_on_key="", timeout=ANSWER_TIMEOUT, speech_timeout="auto", language=VOICES[lang][1],
        hints=", ".join(sorted(asking.YES[lang] | asking.NO[lang])), action_on_empty_result=False,
        speech_model=QUESTION_SPEECH_MODEL)
    speak(gather, f"confirm.{entry}", lang)
    response.redirect(url_for(".silence", at=at, lang=lang, tries=0))


def ask(response: VoiceResponse, step: flow.Ask | flow.Summary, offered: frozenset[str] = frozenset(),
        invite: bool = True) -> None:
    """A menu inside a Gather, so the caller can press a key before it ends. The emergency
    sentence is the menu's last words until the caller has heard them once: in a second Gather,
    whose URLs say so. ``offered``: keys offered just before, not offered again. ``invite``: the
    topic menu ends with the invitation to ask a question."""
    if isinstance(step, flow.Summary):
        at, lang, tries, lead = step.topic, step.lang, 0, None
    else:
        at, lang, tries, lead = step.at, step.lang, step.tries, step.lead
    menu = LANGUAGE_MENU if at == LANGUAGE_MENU else flow.menu_id(script(), at)
    langs = [lang] if lang else list(LANGUAGES)
    # What this menu says once a call, decided before any URL is made (they carry it).
    welcome = lead in ("welcome", "returning") and lang not in _heard()
    switch_offer = welcome and SWITCH_OFFERED not in _heard()
    # Said before the menu: an apology for silence or a wrong key (at the first repeat only), or
    # "Sorry, I did not understand" after a "no" at a confirmation.
    apology = lead if lead in APOLOGIES and tries == 1 or lead == flow.NOT_CONFIRMED else None
    # The menus for a clinic that cannot take the call say the 911 line in their first words.
    says_911 = lead is None and menu in ("clinic_unavailable", "clinic_closed")
    if lead == flow.EMERGENCY:
        # Outside the Gather: keys pressed while it is said (the "1 1" after a 9) choose nothing.
        for each in langs:
            speak(response, "emergency", each)
    _hear(*([lang] if welcome else []), *([SWITCH_OFFERED] if switch_offer else []),
          *([EMERGENCY_HEARD] if lead == flow.EMERGENCY or says_911 else []))
    tail_911 = EMERGENCY_HEARD not in _heard()

    answered = {"entry": step.answer} if isinstance(step, flow.Ask) and step.answer else {}
    choose_url = url_for(".choose", at=at, lang=lang, tries=tries, **answered)
    if isinstance(step, flow.Summary):
        # Keys only while a summary plays: a cough or an "uh-huh" must not cut it off.
        keys_only = response.gather(input="dtmf", action=url_for(".choose", at=at, lang=lang, tries=tries, playing=1),
                                    method="POST", num_digits=1, finish_on_key="", timeout=1,
                                    action_on_empty_result=False)
        summary = f"summary.{at}{SLOW_SUFFIX if step.slow else ''}"
        speak_text(keys_only, summary, lang, script().text(summary, lang))
    hints = [word for words in flow.speech_hints(script(), at, lang).values() for word in words]
    questions = flow.listens_for_questions(script(), at, lang)
    if questions:
        hints += script().questions.index.hints(lang)
    listen = dict(
        input="dtmf speech",
        method="POST",
        num_digits=1,
        finish_on_key="",
        speech_timeout="auto",
        language=VOICES[lang or "en"][1],
        hints=", ".join(hints),
        action_on_empty_result=False,
        # Where questions are asked: Twilio's model for phone-call audio, which suits whole
        # sentences better than its default (tuned for short commands).
        **({"speech_model": QUESTION_SPEECH_MODEL} if questions else {}),
    )
    # With the 911 line to follow, the menu's Gather waits a moment only, then the 911 line's does.
    gather = response.gather(action=choose_url, timeout=1 if tail_911 else ANSWER_TIMEOUT, **listen)
    if menu == LANGUAGE_MENU:
        language_menu(gather, lead, apology)
    elif lang is None:
        # Before a language is chosen (0 at the language menu): the whole menu in English,
        # then the whole menu in Spanish, each ending with its language's key.
        for each in LANGUAGES:
            menu_in(gather, menu, each, lead, apology, before_language=True)
            speak(gather, f"menu.{LANGUAGE_MENU}", each)
    else:
        if lead == flow.OTHER_LANGUAGE:
            # A question in the other language: the offer to switch, in its voice, then the menu.
            speak(gather, "switch_language", next(each for each in LANGUAGES if each != lang))
            lead = None
        if welcome:
            for prompt_id in flow.RETURNING if lead == "returning" else flow.WELCOME:
                speak(gather, prompt_id, lang)
        if at == flow.ANSWERED:
            if apology:
                speak(gather, apology, lang)
            speak_offers(gather, "question.after_answer", lang, offered)
        else:
            menu_in(gather, menu, lang, lead, apology)
            # Key 5 after the menu's own options: never before the answer, never in its time budget.
            text, call_back = _phone_offers(step)
            if text:
                speak(gather, "phone.text_offer", lang)
            if call_back:
                speak(gather, "phone.call_back_offer", lang)
        if at == "topics" and questions and invite:
            speak(gather, "question.invite", lang)
        if switch_offer:
            # One short offer of the other language, in its own voice, once a call.
            other = next(each for each in LANGUAGES if each != lang)
            speak(gather, "switch_language", other)
    if tail_911:
        _hear(EMERGENCY_HEARD)
        emergency = response.gather(action=url_for(".choose", at=at, lang=lang, tries=tries, **answered),
                                    timeout=ANSWER_TIMEOUT, **listen)
        for each in langs:
            speak(emergency, "emergency", each)
    # Reached only when the caller said and pressed nothing.
    response.redirect(url_for(".silence", at=at, lang=lang, tries=tries))


def language_menu(gather, lead: str | None, apology: str | None) -> None:
    """The opening (flow.OPENING), or the language choice again: each language whole, in turn."""
    if lead == "greeting":
        for prompt_id, each in flow.OPENING:
            speak(gather, prompt_id, each)
        return
    for each in LANGUAGES:
        if apology:
            speak(gather, apology, each)
        speak(gather, f"menu.{LANGUAGE_MENU}", each)


def menu_in(gather, menu: str, lang: str, lead: str | None, apology: str | None,
            before_language: bool = False) -> None:
    """One menu in one language. Its intro ("Sorry, the clinic cannot take your call"), and the
    closed clinic's message, are its first words, not said again when the menu is repeated
    after silence or a key (a ``lead``): one apology, not two, and not the same one again."""
    if apology:
        speak(gather, apology, lang)
    if menu == "clinic_closed" and lead is None:
        # Built per call: it says when the clinic opens next.
        say_text(gather, hours.closed_message(script().clinic_hours, now(), lang), lang)
    # Options that cannot work here are not offered: "back to the topics" before a language
    # is chosen, the clinic once it was tried MAX_TRANSFERS times; while the clinic is closed,
    # 0 is offered as what it does then (when it opens, and a message).
    without = {"topics"} if before_language else set()
    if _transfers() >= flow.MAX_TRANSFERS:
        without.add(CLINIC)
    text = script().menu_text(menu, lang, frozenset(without), intro=lead is None, closed=not clinic_is_open())
    speak_text(gather, f"menu.{menu}", lang, text)


def speak_offers(parent, prompt_id: str, lang: str, offered: frozenset[str] = frozenset()) -> frozenset[str]:
    """A prompt without its sentences that offer only keys just ``offered``, or the clinic once
    it cannot be reached by 0 (MAX_TRANSFERS); the keys it offers."""
    unavailable = set(offered) | ({CLINIC_KEY} if _transfers() >= flow.MAX_TRANSFERS else set())
    text = script().text(prompt_id, lang)
    sentences = _SENTENCE_END.split(text.strip())
    kept = [sentence for sentence in sentences
            if not (keys := mentioned_keys(sentence, lang)) or not keys <= unavailable]
    if kept:  # the whole text as written when nothing was left out: its recording plays
        speak_text(parent, prompt_id, lang, text if kept == sentences else " ".join(kept))
    return frozenset(mentioned_keys(" ".join(kept), lang))


def clinic_is_open() -> bool:
    return hours.is_open(script().clinic_hours, now())


def clinic_answers() -> bool:
    """Whether a transfer would reach the clinic now (open, and a number to call)."""
    return bool(current_app.config["CLINIC_PHONE_NUMBER"]) and clinic_is_open()


def transfer(response: VoiceResponse, step: flow.Transfer, lead: str | None = None) -> None:
    """Dial the clinic; or, when it cannot be, the menu that says why. 0 pressed again at that
    menu counts as a try there: said again, then goodbye, never for ever."""
    lang = step.lang

    def cannot(menu: str, tries: int = 0) -> None:
        again = step.at == menu
        render(flow.retry(script(), menu, lang, step.tries, None) if again else flow.Ask(menu, lang, tries), response)

    if not clinic_is_open():
        cannot("clinic_closed")
        return
    number = current_app.config["CLINIC_PHONE_NUMBER"]
    if not number:
        current_app.logger.error("CLINIC_PHONE_NUMBER is not set: callers cannot reach the clinic")
        cannot("clinic_unavailable")
        return
    if _transfers() >= flow.MAX_TRANSFERS:
        # Tried enough: the clinic is busy. Offer the voicemail; silence then ends the call.
        cannot("clinic_unavailable", flow.MAX_TRIES)
        return
    for each in [lang] if lang else LANGUAGES:
        if lead == flow.EMERGENCY:
            speak(response, "emergency", each)
        speak(response, "transfer", each)
    response.dial(number, action=url_for(".clinic_done", lang=lang, transfers=_transfers() + 1),
                  method="POST", timeout=DIAL_TIMEOUT)


# -- key 5, "to your phone" (ivr/offers.py) ---------------------------------------
# What can be done is known from the settings (the senders text_messages.py and callbacks.py put
# in app.extensions), the caller's number, and this call's state in the URL: the topics texted
# ("texted") and the texts this number had earlier today, once known ("earlier").


def _phone_state() -> dict[str, str]:
    return {name: g.get(f"ivr_{name}", request.args.get(name, "")) for name in ("texted", "earlier")}


def _texted() -> tuple[str, ...]:
    return offers.parse_texted(_phone_state()["texted"], script())


def _earlier() -> int:
    return flow.parse_count(_phone_state()["earlier"], offers.TEXTS_PER_DAY)


def text_offered(topic: str, lang: str | None) -> bool:
    texts, texted = script().to_your_phone, _texted()
    return (lang is not None and texts is not None and topic in texts.text_messages.topics
            and current_app.extensions.get("ivr.text_messages") is not None
            and topic not in texted and _earlier() + len(texted) < offers.TEXTS_PER_DAY
            and offers.can_get_texts(request.form.get("From")))


def call_back_offered(lang: str | None) -> bool:
    return (lang is not None and script().to_your_phone is not None
            # Not again in the menu right after a call back was declined or found already asked for.
            and current_app.extensions.get("ivr.callbacks") is not None and not g.get("ivr_no_call_back")
            and offers.can_call_back(request.form.get("From")))


def _phone_offers(step: flow.Step) -> tuple[bool, bool]:
    """(a text of this summary, a call back) offered in the menu of ``step``."""
    at, lang = (step.topic, step.lang) if isinstance(step, flow.Summary) else (getattr(step, "at", None), step.lang)
    return (at in script().summaries and text_offered(at, lang),
            at in offers.CLINIC_MENUS and call_back_offered(lang))


def send_text(response: VoiceResponse, topic: str, lang: str) -> None:
    """5 after a summary: "I will send it now" (text_messages.py sends it after the webhook), then
    the menu again, without that offer."""
    if not text_offered(topic, lang):  # 5 is no choice here: as any key that means nothing
        render(flow.Ask(topic, lang, _tries()) if request.args.get("playing")
               else flow.retry(script(), topic, lang, _tries(), flow.REPEAT), response)
        return
    if not _phone_state()["earlier"]:
        # The first text of this call: how many this number had today, if the database says within budget.
        count = current_app.extensions["ivr.texts_today"](request.form.get("From"), now())
        g.ivr_earlier = str(count if count is not None else 0)
    if _earlier() + len(_texted()) >= offers.TEXTS_PER_DAY:
        g.ivr_step = flow.Ask(topic, lang)
        speak(response, "phone.text_daily_limit", lang)
    else:
        g.ivr_texted = ".".join((*_texted(), topic))
        speak(response, "phone.text_sending", lang)
    ask(response, flow.Ask(topic, lang))


def confirm_call_back(response: VoiceResponse, lang: str, back: str) -> None:
    """5 where the clinic does not answer: the number read back digit by digit, 5 to confirm."""
    if not call_back_offered(lang):
        render(flow.retry(script(), back, lang, _tries(), flow.REPEAT), response)
        return
    number = request.form.get("From")
    if current_app.extensions["ivr.call_back_open"](number):
        g.ivr_no_call_back = "1"
        speak(response, "phone.call_back_already", lang)
        ask(response, flow.Ask(back, lang))
        return
    action = url_for(".call_back", back=back, lang=lang)
    gather = response.gather(input="dtmf", action=action, method="POST", num_digits=1, finish_on_key="",
                             timeout=ANSWER_TIMEOUT, action_on_empty_result=False)
    # Said by Twilio's voice: the number is the caller's, never recorded.
    say_text(gather, script().text("phone.call_back_confirm", lang).replace("{number}", offers.read_back(number)), lang)
    response.redirect(url_for(".call_back", back=back, lang=lang))


# -- webhooks --------------------------------------------------------------------


bp.before_request(signatures.check_signature)


def _lang() -> str | None:
    return flow.parse_lang(request.args.get("lang"))


def _tries() -> int:
    return flow.parse_tries(request.args.get("tries"))


def _transfers() -> int:
    return flow.parse_transfers(request.args.get("transfers"))


def _empty() -> int:
    return flow.parse_count(request.args.get("empty"), flow.MAX_EMPTY_MESSAGES)


def _seconds(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@bp.post("/voice")
def voice():
    """Twilio's incoming-call webhook: the greeting and the language menu, in one Gather, or
    for a returning caller the topics in the language they chose before."""
    from .language_memory import recall  # it reads the call log, which imports this module

    return answer(flow.start(recall()))


@bp.post("/ivr/menu/<at>")
def menu(at):
    return answer(flow.Ask(*flow.position(script(), at, _lang())))


@bp.post("/ivr/choose/<at>")
def choose(at):
    digits = (request.form.get("Digits") or "").strip()
    step = flow.choose(script(), at, _lang(), _tries(), digits, request.form.get("SpeechResult"),
                       playing=bool(request.args.get("playing")), same_key=_same_key(digits) if digits else 1,
                       answer=request.args.get("entry"))
    return answer(step)


@bp.post("/ivr/silence/<at>")
def silence(at):
    return answer(flow.retry(script(), at, _lang(), _tries(), "no_input"))


@bp.post("/ivr/clinic")
def clinic():
    return twiml(render(flow.Transfer(_lang())))


@bp.post("/ivr/call-back/<back>")
def call_back(back):
    """The answer to "the clinic will call you back at ...": 5 yes, * or silence no; any other key
    means what it means at the menu the caller came from."""
    back = back if back in offers.CLINIC_MENUS else "clinic_unavailable"
    lang, digits = _lang(), (request.form.get("Digits") or "").strip()
    if lang is None:
        return answer(flow.Ask(back, None))
    if digits == offers.PHONE_KEY and call_back_offered(lang):
        return answer(offers.CallBackTaken(lang))
    if digits in ("", BACK_KEY, offers.PHONE_KEY):
        return answer(offers.CallBackDeclined(lang, back))
    return answer(flow.choose(script(), back, lang, 0, digits, None))


@bp.post("/ivr/clinic/done")
def clinic_done():
    """Dial's action: the clinic call ended, or never connected."""
    lang = _lang()
    if request.form.get("DialCallStatus") in CONNECTED_DIAL_STATUSES:
        response = VoiceResponse()
        response.hangup()
        return twiml(response)
    return answer(flow.Ask("clinic_unavailable", lang))


@bp.post("/ivr/voicemail/done")
def voicemail_done():
    """Record's action: thank the caller, or say nothing was recorded."""
    lang = _lang()
    response = VoiceResponse()
    if not request.form.get("RecordingUrl") or _seconds(request.form.get("RecordingDuration")) == 0:
        nothing_recorded(response, lang)
        return twiml(response)
    speak(response, "voicemail_thanks", lang)
    response.hangup()
    return twiml(response)


def apology(response: VoiceResponse, lang: str | None) -> bool:
    """Sorry, in the caller's language (in every language before one is chosen), with the
    scripts' words; if even the scripts cannot be read, the last words, and the call ends (False)."""
    try:
        speak(response, "apology", lang)
        return True
    except Exception:
        last_words(response, lang)
        return False


def last_words(response: VoiceResponse, lang: str | None) -> None:
    """When nothing else works: sorry, please call again, and the 911 line (in the caller's
    language when known, else in every language); then the call ends. No script is needed."""
    for each in [lang] if lang else LANGUAGES:
        say_text(response, FALLBACK_APOLOGY[each], each)
    response.hangup()


@bp.errorhandler(Exception)
def apologise(error):
    """Any failure becomes a spoken apology and a way forward, never a 500."""
    if isinstance(error, HTTPException):
        return error
    current_app.logger.exception("webhook %s failed (call %s)", quoted(request.path),
                                 quoted(request.form.get("CallSid", "?")))
    g.ivr_failed = True  # for the call log
    lang = _lang()
    response = VoiceResponse()
    if request.args.get("after_error"):
        # The second failure in a row: end politely rather than loop.
        last_words(response, lang)
    elif not apology(response, lang):
        pass  # the scripts cannot be read: the call has ended with the last words
    elif request.endpoint == "ivr.clinic":
        # The way to the clinic itself failed: back to the topics instead.
        response.redirect(url_for(".menu", at="topics", lang=lang, after_error=1))
    else:
        response.redirect(url_for(".clinic", lang=lang, after_error=1))
    return twiml(response), 200
