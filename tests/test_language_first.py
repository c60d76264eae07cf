"""Issue 10: the language first, keys that mean the same everywhere, and no path that loops."""
import re
import shutil
from datetime import datetime

import pytest

from conftest import CHICAGO, FIXTURE_MENUS, Call, query
from ivr import create_app, timing
from ivr.checks import mentioned_keys
from ivr.menus import check_scripts, load_script

CLOSED = datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # a Saturday evening
LANG = {"en": ("1", "en-US"), "es": ("2", "es-MX")}
MAX_WEBHOOKS = 15


def choose_language(call, lang):
    call.answer()
    return call.press(LANG[lang][0])


# -- time to information ---------------------------------------------------------------


def said_until(heard, key: str) -> float:
    """Seconds of speech in one answer until the sentence offering ``key`` ends."""
    total = 0.0
    for say in heard.root.iter("Say"):
        lang = "en" if say.get("language") == "en-US" else "es"
        for sentence in say.iter("s"):
            text = " ".join("".join(sentence.itertext()).split())
            total += timing.spoken_seconds(text, lang)
            if key in mentioned_keys(text, lang):
                return total
    raise AssertionError(f"{key} is never offered")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_budget_computation_follows_what_the_webhooks_say(call, lang):
    script = load_script(FIXTURE_MENUS)
    computed = timing.time_to_information(script, lang, returning=False)
    for n, (topic, key) in enumerate(timing.topic_keys(script).items()):
        opening = call.post("/voice", {"From": f"+1214555000{n}"})  # first-time callers
        seconds = said_until(opening, LANG[lang][0])
        seconds += said_until(call.press(LANG[lang][0]), key)
        assert seconds == pytest.approx(computed[topic], abs=0.01)
    opening = call.post("/voice", {"From": "+12145550009"})
    assert timing.opening_seconds(script, "es") == pytest.approx(said_until(opening, "2"), abs=0.01)


def test_the_pace_is_words_and_sentences():
    # 2.2 words a second in English, 2.0 in Spanish (longer words), plus 0.25 s a sentence;
    # "9 1 1" is three words.
    assert timing.spoken_seconds("For emergencies, hang up and dial 9 1 1.", "en") == pytest.approx(9 / 2.2 + 0.25)
    assert timing.spoken_seconds("Para emergencias, cuelgue y marque al 9 1 1.", "es") == pytest.approx(9 / 2.0 + 0.25)
    assert timing.spoken_seconds("One two. Three four.", "en") == pytest.approx(4 / 2.2 + 0.5)


def test_recordings_are_timed_by_their_length():
    script = load_script(FIXTURE_MENUS)
    recorded = {("menu.topics", "en"): 30.0}
    said = timing.time_to_information(script, "en", returning=False)
    with_recording = timing.time_to_information(script, "en", returning=False, recorded=recorded)
    before_menu = said["procedure"] - timing.spoken_seconds("For the procedure, press 1.", "en")
    assert with_recording["procedure"] == pytest.approx(before_menu + 30.0)


def test_check_warns_when_an_edit_makes_callers_wait_too_long(tmp_path):
    menus = tmp_path / "menus"
    shutil.copytree(FIXTURE_MENUS, menus)
    path = menus / "menus.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("en: This is not medical advice.",
                                 "en: This line gives general information about the procedure and about what to expect after it. "
                                 "It is not medical advice."),
                    encoding="utf-8")
    script, problems = check_scripts(menus)
    assert script is not None  # a warning: the line keeps speaking
    messages = [p.message for p in problems if p.warning]
    assert any(m.startswith("a first-time caller in English waits") and "the budget is 22 s" in m for m in messages)
    assert any(m.startswith("a returning caller in English waits") for m in messages)


# -- keys mean the same everywhere -------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_topic_key_during_a_summary_plays_that_topic(call, lang):
    # Defect: 2 while the procedure played said "That is not one of the choices".
    choose_language(call, lang)
    call.press("1")
    heard = call.press("2")  # the summary's own Gather: pressed while it plays
    assert heard.said[0][1].startswith("Here is what to expect" if lang == "en" else "Esto es lo que puede esperar")
    heard = call.post(heard.gather.get("action").replace("&playing=1", ""), {"Digits": "3"})  # after it
    assert heard.said[0][1].startswith("Here are the possible risks" if lang == "en" else "Estos son los posibles")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_key_that_means_nothing_during_a_summary_is_its_end_without_a_scolding(call, lang):
    choose_language(call, lang)
    call.press("1")
    heard = call.press("5")
    assert heard.said[0][1].startswith("To hear it again more slowly, press 8." if lang == "en"
                                       else "Para escucharlo otra vez más despacio, oprima 8.")
    assert "not one of the choices" not in heard.text and "no es una de las opciones" not in heard.text
    assert query(heard.gather.get("action"))["tries"] == "0"


def test_zero_and_star_and_the_topics_work_in_the_clinic_menus(call):
    choose_language(call, "en")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "busy"})
    assert call.press("2").said[0][1].startswith("Here is what to expect")


@pytest.mark.parametrize("lang,other,words", [("en", "es-MX", "Información sobre la cifoplastia."),
                                              ("es", "en-US", "Information about Kyphoplasty.")])
def test_six_switches_the_language_from_anywhere_and_the_welcome_is_not_said_twice(call, lang, other, words):
    choose_language(call, lang)
    call.press("3")
    heard = call.press("6")
    assert heard.languages == {other}
    assert heard.said[0][1] == words  # what the line is about and the notice, in the new language, once
    back = call.press("6")
    assert back.said[0][1].startswith("For the procedure" if lang == "en" else "El procedimiento")
    assert "press 6" not in back.text and "oprima 6" not in back.text  # offered once a call
    again = call.press("6")
    assert again.said[0][1].startswith("El procedimiento" if lang == "en" else "For the procedure")


def test_silence_at_clinic_unavailable_hears_i_did_not_hear_a_choice_once_not_the_apology_again(app, call):
    # Defect: "Sorry, the clinic cannot take your call right now..." six times, and never why the menu came again.
    app.config["CLINIC_PHONE_NUMBER"] = ""
    choose_language(call, "en")
    first = call.press("0")
    assert first.text.startswith("Sorry, the clinic cannot take your call right now.")
    again = call.wait_silently()
    assert again.text.startswith("Sorry, I did not hear a choice. To leave a message, press 7.")
    assert "cannot take your call" not in again.text
    third = call.press("5")  # kept for a call back: no scolding
    assert third.text.startswith("To leave a message, press 7.") and "Sorry" not in third.text
    goodbye = call.wait_silently()
    assert goodbye.text == "Thank you for calling the Dallas Pain Relief Center. Goodbye."


def test_a_silent_caller_hears_each_apology_at_most_twice_a_call(call):
    call.answer()
    said = []
    for _ in range(MAX_WEBHOOKS):
        heard = call.heard
        said += [text for _, text in heard.said]
        if heard.first("Dial") is not None:
            call.follow("Dial", {"DialCallStatus": "busy"})
        elif heard.verbs[-1] == "Hangup":
            break
        else:
            call.wait_silently()
    sentences = [s for text in said for s in re.split(r"(?<=\.) ", text)]
    assert sentences.count("Sorry, I did not hear a choice.") == 2  # at the language menu, at the busy clinic's
    assert sentences.count("Sorry, the clinic cannot take your call right now.") == 1
    assert sentences.count("For emergencies, hang up and dial 9 1 1.") == 2  # the opening, the busy clinic's


@pytest.mark.parametrize("lang,line", [("en", "For emergencies, hang up and dial 9 1 1."),
                                       ("es", "Para emergencias, cuelgue y marque al 9 1 1.")])
@pytest.mark.parametrize("status", ["busy", "no-answer"])
def test_clinic_unavailable_repeats_911_in_the_callers_language(call, lang, line, status):
    choose_language(call, lang)
    call.press("0")
    heard = call.follow("Dial", {"DialCallStatus": status})
    assert line in heard.text and heard.languages == {LANG[lang][1]}


def test_a_busy_clinic_is_dialled_at_most_twice_then_voicemail_then_goodbye(call):
    # Defects: three silences at "the clinic cannot take your call" dialled again, for ever; then 0
    # pressed again and again said "Sorry, the clinic cannot take your call" 78 times.
    choose_language(call, "en")
    dials, heard = 0, call.press("0")
    for _ in range(MAX_WEBHOOKS):
        if heard.first("Dial") is not None:
            dials += 1
            heard = call.follow("Dial", {"DialCallStatus": "busy"})
        elif heard.verbs[-1] == "Hangup":
            break
        else:
            heard = call.press("0")
    assert dials == 2
    assert heard.verbs[-1] == "Hangup" and "Goodbye" in heard.text
    # After the second attempt, 0 no longer dials: why, and the voicemail, instead; never "press 0".
    call.answer()
    heard = call.post("/ivr/clinic?lang=en&transfers=2")
    assert heard.first("Dial") is None and "cannot take your call" in heard.text
    assert "To leave a message, press 7." in heard.text and "press 0" not in heard.text
    assert call.press("0").first("Dial") is None


def test_a_silent_caller_at_the_busy_clinic_is_not_dialled_again_without_asking(call):
    choose_language(call, "en")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "busy"})
    for _ in range(2):
        assert call.wait_silently().first("Dial") is None
    heard = call.wait_silently()
    assert heard.first("Dial") is None and heard.verbs[-1] == "Hangup" and "Goodbye" in heard.text


# -- every path ends well: tests/test_every_key.py ------------------------------------------


# -- hear it again, more slowly --------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_after_summary_menu_offers_again_and_more_slowly(call, lang):
    choose_language(call, lang)
    heard = call.press("4")
    offered = ("To hear it again more slowly, press 8." if lang == "en"
               else "Para escucharlo otra vez más despacio, oprima 8.")
    assert offered in heard.text and "9." not in heard.text
    normal = next(heard.root.iter("prosody")).get("rate")
    slow = call.press("8")
    summary = next(slow.root.iter("Gather"))
    rates = [p.get("rate") for p in summary.iter("prosody")]
    assert rates and all(int(rate.rstrip("%")) < int(normal.rstrip("%")) for rate in rates)
    assert slow.said[0][1] == heard.said[0][1]  # the same words
    # 4 again, the topic's own key: the same summary at the normal pace.
    again = call.press("4")
    assert [p.get("rate") for p in next(again.root.iter("Gather")).iter("prosody")] == [normal]


def test_saying_slowly_asks_for_the_slow_version(call):
    choose_language(call, "es")
    call.press("2")
    heard = call.say("más despacio, por favor")
    assert heard.said[0][1].startswith("Esto es lo que puede esperar")
    assert next(heard.root.iter("prosody")).get("rate") == "70%"


# -- returning callers ------------------------------------------------------------------------


def test_a_returning_caller_is_greeted_in_their_language_then_offered_the_other(call):
    choose_language(call, "es")
    heard = call.answer()  # the same number calls again
    assert heard.verbs == ["Gather", "Gather", "Redirect"]  # the menu, then the 911 line
    assert heard.said[:3] == [("es-MX", "Dallas Pain Relief Center."), ("es-MX", "Información sobre la cifoplastia."),
                              ("es-MX", "Esto no es consejo médico.")]
    assert heard.said[3][1].startswith("El procedimiento, oprima 1.")
    assert heard.said[-2:] == [("en-US", "For English, press 6."),
                               ("es-MX", "Para emergencias, cuelgue y marque al 9 1 1.")]
    assert call.press("2").said[0][1].startswith("Esto es lo que puede esperar")
    # 6 switches, and the line remembers the new choice.
    call.answer()
    assert call.press("6").said[0] == ("en-US", "Information about Kyphoplasty.")
    assert call.answer().said[-2] == ("es-MX", "Para español, oprima 6.")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_returning_budget_follows_what_the_webhooks_say(call, lang):
    script = load_script(FIXTURE_MENUS)
    choose_language(call, lang)
    computed = timing.time_to_information(script, lang, returning=True)
    greeting = call.answer()
    for topic, key in timing.topic_keys(script).items():
        assert said_until(greeting, key) == pytest.approx(computed[topic], abs=0.01)


def test_the_language_is_shared_by_every_worker_and_forgotten_after_90_days(config, client, app):
    call = Call(client)
    choose_language(call, "es")
    from ivr import calllog

    calllog.flush()
    other_worker = create_app(config)
    assert Call(other_worker.test_client()).answer().languages == {"es-MX", "en-US"}
    assert Call(other_worker.test_client()).answer().said[0] == ("es-MX", "Dallas Pain Relief Center.")
    later = create_app({**config, "CLOCK": lambda: datetime(2027, 3, 1, 10, tzinfo=CHICAGO)})  # > 90 days
    assert Call(later.test_client()).answer().said[1] == ("en-US", "For English, press 1.")


def test_nothing_is_remembered_without_caller_hash_key(config):
    app = create_app({**config, "CALLER_HASH_KEY": ""})
    call = Call(app.test_client())
    choose_language(call, "es")
    from ivr import calllog

    calllog.flush()
    assert call.answer().said[1] == ("en-US", "For English, press 1.")
    with create_app(config).app_context():
        from ivr.schema import caller_languages

        with calllog.call_log().engine().connect() as connection:
            assert list(connection.execute(caller_languages.select())) == []


def test_database_down_means_the_normal_opening(config, tmp_path, caplog):
    config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'missing' / 'no' / 'calls.sqlite3'}"
    (tmp_path / "missing").write_text("a file where the folder should be")
    app = create_app(config)
    heard = Call(app.test_client()).answer()
    assert heard.said[1] == ("en-US", "For English, press 1.")
    assert "language memory: cannot read the database" in caplog.text


def test_purge_forgets_languages_with_the_rest_of_the_log(app, call):
    choose_language(call, "es")
    from ivr import calllog

    calllog.flush()
    app.config["CLOCK"] = lambda: datetime(2026, 12, 2, 10, tzinfo=CHICAGO)
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "7d", "--yes"])
    assert result.exit_code == 0, result.output
    fresh = Call(create_app({**app.config, "CLOCK": app.config["CLOCK"]}).test_client())
    assert fresh.answer().said[1] == ("en-US", "For English, press 1.")
