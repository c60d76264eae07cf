"""Real call paths, in both languages, as a caller hears them."""
from datetime import datetime

import pytest

from conftest import CHICAGO, CLINIC_NUMBER, FIXTURE_MENUS, query
from ivr.menus import load_script

CLOSED = datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # a Saturday evening
TOPICS = {"1": "procedure", "2": "recovery", "3": "risks", "4": "candidates"}
# First words of each summary, to recognise which one is playing.
SUMMARY_START = {
    ("en", "procedure"): "Kyphoplasty, or balloon kyphoplasty",
    ("en", "recovery"): "Here is what to expect after kyphoplasty",
    ("en", "risks"): "Here are the possible risks",
    ("en", "candidates"): "Most compression fractures of the spine",
    ("es", "procedure"): "La cifoplastia, o cifoplastia con balón",
    ("es", "recovery"): "Esto es lo que puede esperar",
    ("es", "risks"): "Estos son los posibles riesgos",
    ("es", "candidates"): "La mayoría de las fracturas vertebrales",
}
LANG = {"en": ("1", "en-US"), "es": ("2", "es-MX")}


def choose_language(call, lang):
    call.answer()
    return call.press(LANG[lang][0])


EMERGENCY = {"en": "For emergencies, hang up and dial 9 1 1.", "es": "Para emergencias, cuelgue y marque al 9 1 1."}


def test_the_opening_offers_the_language_first_then_911_in_both(call):
    heard = call.answer()
    # A key works from the first word: the menu's Gather, then the 911 line's, whose action says it was heard.
    assert heard.verbs == ["Gather", "Gather", "Redirect"]
    menu, emergency = heard.root.iter("Gather")
    assert [" ".join(s.itertext()) for s in menu.iter("s")] == [
        "Dallas Pain Relief Center.", "For English, press 1.", "Para español, oprima 2."]
    assert [" ".join(s.itertext()) for s in emergency.iter("s")] == [EMERGENCY["en"], EMERGENCY["es"]]
    assert "911" not in query(menu.get("action")).get("heard", "")
    assert "911" in query(emergency.get("action"))["heard"] and "911" in query(heard.first("Redirect").text)["heard"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pressing_at_once_hears_kyphoplasty_named_the_notice_the_topics_then_911(call, lang):
    call.answer()
    heard = call.press(LANG[lang][0])
    about, notice = (("Information about Kyphoplasty.", "This is not medical advice.") if lang == "en"
                     else ("Información sobre la cifoplastia.", "Esto no es consejo médico."))
    assert heard.said[0] == (LANG[lang][1], about) and heard.said[1] == (LANG[lang][1], notice)
    assert ("For the procedure, press 1." if lang == "en" else "El procedimiento, oprima 1.") in heard.said[2][1]
    # Once a call, shortly, in its own voice: 6 switches language; then the 911 line the caller missed.
    assert heard.said[-2] == (("es-MX", "Para español, oprima 6.") if lang == "en" else ("en-US", "For English, press 6."))
    assert heard.said[-1] == (LANG[lang][1], EMERGENCY[lang])


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_caller_who_heard_the_opening_hears_911_once_before_the_first_summary(call, lang):
    opening = call.answer()
    after_911 = list(opening.root.iter("Gather"))[1].get("action")
    topics = call.post(after_911, {"Digits": LANG[lang][0]})
    assert EMERGENCY[lang] not in topics.text and topics.verbs == ["Gather", "Redirect"]
    summary = call.press("1")
    assert "9 1 1" not in summary.text


def test_every_menu_gathers_keys_and_speech_patiently(call):
    heard = call.answer()
    for step in (lambda: call.press("1"), lambda: call.press("2"), lambda: call.press("*")):
        gather = list(heard.root.iter("Gather"))[-1]  # the menu's, after a summary's keys-only one
        assert gather.get("input") == "dtmf speech"
        assert 6 <= int(gather.get("timeout")) <= 8
        assert gather.get("hints")
        assert heard.verbs[-1] == "Redirect", "silence must lead somewhere"
        heard = step()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_topic_menu_in_chosen_language(call, lang):
    heard = choose_language(call, lang)
    assert {voice for voice, _ in heard.said[:-2]} == {LANG[lang][1]}  # then the offer of the other language
    assert heard.gather.get("language") == LANG[lang][1]
    if lang == "en":
        assert "For recovery, press 2." in heard.text
        assert "To speak with the clinic, press 0." in heard.text
    else:
        assert "La recuperación, oprima 2." in heard.text
        assert "Para hablar con la clínica, oprima 0." in heard.text


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("key,topic", TOPICS.items())
def test_every_topic_plays_its_summary_then_the_after_menu(call, lang, key, topic):
    choose_language(call, lang)
    heard = call.press(key)
    assert heard.text.startswith(SUMMARY_START[lang, topic])
    assert heard.languages == {LANG[lang][1]}
    # The summary is inside the Gather: a caller can press * without waiting for the end.
    assert SUMMARY_START[lang, topic] in " ".join(heard.gather.itertext())
    star = "star" if lang == "en" else "asterisco"
    assert star in heard.text
    # 8 plays it again, more slowly; * goes back to the topics.
    again = call.press("8")
    assert again.text.startswith(SUMMARY_START[lang, topic])
    back = call.press("*")
    assert query(back.gather.get("action"))["lang"] == lang
    assert back.gather.get("action").startswith("/ivr/choose/topics")


def test_star_from_topics_goes_back_to_language_choice(call):
    choose_language(call, "es")
    heard = call.press("*")
    assert "Para español, oprima 2." in heard.text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_zero_reaches_the_clinic_from_every_menu(call, lang):
    for path in ([], ["2"], ["2", "8"]):
        choose_language(call, lang)
        for key in path:
            call.press(key)
        heard = call.press("0")
        dial = heard.first("Dial")
        assert dial is not None and dial.text.strip() == CLINIC_NUMBER
        assert query(dial.get("action"))["lang"] == lang
        assert heard.languages == {LANG[lang][1]}


def test_clinic_answered_call_ends_when_clinic_hangs_up(call):
    choose_language(call, "en")
    call.press("0")
    heard = call.follow("Dial", {"DialCallStatus": "completed", "DialCallDuration": "95"})
    assert heard.verbs == ["Hangup"]


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_busy_clinic_offers_voicemail_then_thanks(call, lang, status):
    choose_language(call, lang)
    call.press("0")
    heard = call.follow("Dial", {"DialCallStatus": status})
    assert heard.languages == {LANG[lang][1]}
    assert ("cannot take your call" if lang == "en" else "no puede atender su llamada") in heard.text
    heard = call.press("7")
    record = heard.first("Record")
    assert record is not None and record.get("maxLength") == "120"
    assert record.get("finishOnKey") == "#" and record.get("playBeep") == "true"
    heard = call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "14"})
    assert ("Thank you" if lang == "en" else "Gracias") in heard.text
    assert heard.verbs[-1] == "Hangup"


def test_busy_clinic_star_goes_back_to_topics(call):
    choose_language(call, "es")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "busy"})
    heard = call.press("*")
    assert "La recuperación, oprima 2." in heard.text


def test_empty_voicemail_says_so_and_returns_to_topics(call):
    choose_language(call, "en")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "no-answer"})
    heard = call.press("7")
    # Twilio skips the action when nothing was recorded and goes on to the next verbs.
    assert heard.verbs[heard.verbs.index("Record") + 1:] == ["Say", "Redirect"]
    heard = call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "0"})
    assert "We did not receive a message." in heard.text
    assert call.wait_silently().text.startswith("For the procedure, press 1.")
    # The second message with nothing in it ends the call: 7 again and again never goes on for ever.
    heard = call.press("7")
    assert heard.verbs[heard.verbs.index("Record") + 1:] == ["Say", "Say", "Hangup"]
    heard = call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "0"})
    assert heard.text == "We did not receive a message. Thank you for calling the Dallas Pain Relief Center. Goodbye."
    assert heard.verbs[-1] == "Hangup"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_after_hours_three_silences_say_when_the_clinic_opens_and_offer_a_message_before_goodbye(app, call, lang):
    # Defect: the third silence said goodbye without when the clinic opens or that a message can be left.
    app.config["CLOCK"] = lambda: CLOSED
    choose_language(call, lang)
    first = call.wait_silently()
    assert ("did not hear" if lang == "en" else "no escuché") in first.text
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in first.text
    call.wait_silently()
    last_offer = call.wait_silently()
    assert ("We open Monday at 8 a.m." if lang == "en" else "Abrimos el lunes a las 8 de la mañana.") in last_offer.text
    assert ("To leave a message for the clinic, press 7." if lang == "en"
            else "Para dejarle un mensaje a la clínica, oprima 7.") in last_offer.text
    assert last_offer.gather is not None and last_offer.languages == {LANG[lang][1]}
    goodbye = call.wait_silently()
    assert goodbye.verbs[-1] == "Hangup" and goodbye.gather is None
    assert ("Goodbye" if lang == "en" else "Hasta luego") in goodbye.text
    assert goodbye.languages == {LANG[lang][1]}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_three_tries_while_the_clinic_is_open_reach_a_person(call, lang):
    choose_language(call, lang)
    first = call.wait_silently()
    assert ("did not hear" if lang == "en" else "no escuché") in first.text
    second = call.press("#")
    # The apology once: the menu again, then the clinic.
    assert "not one of the choices" not in second.text and "no es una de las opciones" not in second.text
    last = call.wait_silently()
    assert ("did not hear" if lang == "en" else "no escuché") not in last.text
    assert ("connecting you to the clinic" if lang == "en" else "Le comunico con la clínica") in last.text
    assert last.first("Dial").text.strip() == CLINIC_NUMBER
    assert last.languages == {LANG[lang][1]}


def test_silence_at_language_choice_is_bilingual_then_the_clinic(call):
    call.answer()
    heard = call.wait_silently()
    # Whole in English, then whole in Spanish; the 911 line was heard, not said again.
    assert heard.said == [("en-US", "Sorry, I did not hear a choice."), ("en-US", "For English, press 1."),
                          ("es-MX", "Disculpe, no escuché ninguna opción."), ("es-MX", "Para español, oprima 2.")]
    second = call.wait_silently()
    assert second.said == [("en-US", "For English, press 1."), ("es-MX", "Para español, oprima 2.")]
    last = call.wait_silently()
    # Defect: "Sorry (en), Disculpe (es), Please hold (en), Por favor (es)" alternated sentence by sentence.
    assert last.said == [("en-US", "Please hold. I am connecting you to the clinic."),
                         ("es-MX", "Por favor, no cuelgue. Le comunico con la clínica.")]
    assert last.first("Dial") is not None


@pytest.mark.parametrize("lang,expected", [("en", "That is not one of the choices."),
                                           ("es", "Esa no es una de las opciones.")])
def test_invalid_key_repeats_the_same_menu_in_callers_language(call, lang, expected):
    choose_language(call, lang)
    heard = call.press("#")
    assert heard.text.startswith(expected)
    assert heard.languages == {LANG[lang][1]}
    assert heard.gather.get("action").startswith("/ivr/choose/topics")
    call.press("5")
    assert call.press("#").first("Dial") is not None  # the third wrong key: a person helps


@pytest.mark.parametrize("key", ["5", "8"])
def test_a_key_that_means_something_elsewhere_repeats_the_menu_without_a_scolding(call, key):
    choose_language(call, "en")
    heard = call.press(key)
    assert heard.said[0][1].startswith("For the procedure, press 1.")
    assert query(heard.gather.get("action"))["tries"] == "1"


def test_a_good_choice_resets_the_patience_counter(call):
    choose_language(call, "en")
    call.press("#")
    call.press("5")
    heard = call.press("2")
    assert heard.text.startswith(SUMMARY_START["en", "recovery"])
    assert query(heard.gather.get("action"))["tries"] == "0"


@pytest.mark.parametrize("words,lang,expected", [
    ("English", None, "For recovery, press 2."),
    ("español", None, "La recuperación, oprima 2."),
])
def test_speech_chooses_language(call, words, lang, expected):
    call.answer()
    assert expected in call.say(words).text


@pytest.mark.parametrize("lang,words,topic", [
    ("en", "Recovery.", "recovery"),
    ("en", "tell me about the risks please", "risks"),
    ("en", "two", "recovery"),
    ("es", "Riesgos", "risks"),
    ("es", "la recuperación", "recovery"),
    ("es", "quién es candidato", "candidates"),
    ("es", "los candidatos", "candidates"),
    ("es", "procedimiento", "procedure"),
])
def test_speech_chooses_topic(call, lang, words, topic):
    choose_language(call, lang)
    assert call.say(words).text.startswith(SUMMARY_START[lang, topic])


@pytest.mark.parametrize("lang,words", [("en", "operator"), ("es", "operador"), ("es", "quiero hablar con una persona")])
def test_speech_reaches_the_clinic(call, lang, words):
    choose_language(call, lang)
    assert call.say(words).first("Dial").text.strip() == CLINIC_NUMBER


def test_ambiguous_or_unknown_speech_is_an_invalid_choice(call):
    choose_language(call, "es")
    assert call.say("riesgos y recuperación").text.startswith("Esa no es una de las opciones.")  # both: neither
    # Words that name no option are a question where questions are asked (tests/test_questions.py).
    no_answer = load_script(FIXTURE_MENUS).text("question.no_answer", "es")
    assert call.say("el clima de mañana").text.startswith(no_answer)


def test_speech_back_from_summary(call):
    choose_language(call, "es")
    call.press("3")
    assert "La recuperación, oprima 2." in call.say("regresar").text


def test_missing_clinic_number_offers_voicemail(app, call):
    app.config["CLINIC_PHONE_NUMBER"] = ""
    choose_language(call, "es")
    heard = call.press("0")
    assert heard.first("Dial") is None
    assert "no puede atender su llamada en este momento" in heard.text
    assert "Para dejar un mensaje, oprima 7." in heard.text


def test_zero_before_choosing_a_language_stays_bilingual(app, call):
    call.answer()
    heard = call.press("0")
    assert heard.languages == {"en-US", "es-MX"}
    assert "Please hold." in heard.text and "Por favor, no cuelgue." in heard.text
    heard = call.follow("Dial", {"DialCallStatus": "busy"})
    assert heard.languages == {"en-US", "es-MX"}
    assert "To leave a message, press 7." in heard.text and "Para dejar un mensaje, oprima 7." in heard.text
    heard = call.press("7")
    assert "after the beep" in heard.text and "después del tono" in heard.text
    heard = call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "9"})
    assert "Your message was saved" in heard.text and "Su mensaje quedó guardado" in heard.text


def test_bilingual_menus_are_said_whole_in_english_then_whole_in_spanish_and_offer_the_languages(call):
    # Defect: the bilingual busy menu promised "to go back to the topics, press star" to a caller
    # who had no language yet; * led to the language menu.
    call.answer()
    call.press("0")
    heard = call.follow("Dial", {"DialCallStatus": "no-answer"})
    languages = [lang for lang, _ in heard.said]
    assert languages == sorted(languages, key=["en-US", "es-MX"].index)
    assert "topics" not in heard.text and "temas" not in heard.text
    english = " ".join(text for lang, text in heard.said if lang == "en-US")
    assert english.endswith("To call the clinic again, press 0. For English, press 1.")
    assert heard.text.endswith("Para volver a llamar a la clínica, oprima 0. Para español, oprima 2.")
    assert "La recuperación, oprima 2." in call.press("2").text
    assert "Para español, oprima 2." in call.post("/ivr/choose/clinic_unavailable", {"Digits": "*"}).text


def test_zero_before_choosing_a_language_after_hours_is_bilingual(app, call):
    app.config["CLOCK"] = lambda: CLOSED
    call.answer()
    heard = call.press("0")
    assert heard.languages == {"en-US", "es-MX"}
    assert "The clinic is closed" in heard.text and "La clínica está cerrada" in heard.text
    # * goes back to the only menu that makes sense without a language: the language choice.
    assert "Para español, oprima 2." in call.press("*").text


def test_saying_operator_at_the_language_menu_reaches_the_clinic(call):
    call.answer()
    assert call.say("operadora").first("Dial") is not None


def test_a_summary_cannot_be_cut_off_by_a_cough(call):
    choose_language(call, "en")
    heard = call.press("2")
    summary, menu, _ = heard.root.iter("Gather")  # then the 911 line, not heard yet
    assert summary.get("input") == "dtmf" and SUMMARY_START["en", "recovery"] in " ".join(summary.itertext())
    assert menu.get("input") == "dtmf speech" and "To hear it again more slowly, press 8." in " ".join(menu.itertext())
    assert summary.get("action").startswith("/ivr/choose/recovery") and "playing=1" in summary.get("action")


@pytest.mark.parametrize("lang,words,topic", [
    ("en", "after the procedure", "recovery"),
    ("es", "después del procedimiento", "recovery"),
])
def test_the_longest_matching_words_win(call, lang, words, topic):
    choose_language(call, lang)
    assert call.say(words).text.startswith(SUMMARY_START[lang, topic])


def test_a_key_for_a_menu_the_scripts_no_longer_have_is_not_applied_elsewhere(call):
    # e.g. a summary renamed by staff while a caller was listening to it: 1 ("again") must
    # not play whatever topic 1 is.
    heard = call.post("/ivr/choose/old-topic?lang=en&tries=0", {"Digits": "1"})
    assert heard.text.startswith("For the procedure, press 1.")
