"""Spoken questions: the matcher (ivr/questions.py) on the fixture scripts' questions.yaml, the
held-out set, what check says about a broken questions file, and every spoken-question path on the
phone: emergencies at every menu, confirmations, out-of-scope kinds, noise and the other language."""
import functools
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.sparse import hstack

from conftest import CHICAGO, FIXTURE_MENUS, edit, script_errors
from ivr.menus import check_scripts, load_script
from ivr.questions import QuestionIndex

TESTS = Path(__file__).parent
HELDOUT = TESTS / "questions_heldout.yaml"
CLOSED = datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # a Saturday evening


@pytest.fixture(scope="module")
def index() -> QuestionIndex:
    return fixture_script().questions.index


@pytest.mark.parametrize("lang, said, entry", [
    ("en", "When can I lift things again?", "heavy_lifting"),
    ("es", "¿Voy a estar dormida?", "awake_or_asleep"),
    ("es", "voy a estar dormida", "awake_or_asleep"),
    ("en", "can i drive home after", "walking_and_driving"),
    ("es", "cuándo me dan de alta", "going_home"),
    ("en", "what is the balloon for", "balloon_and_cement"),
    ("en", "does kyphosis affect breathing", "kyphosis_effects"),
    ("es", "qué es una fractura por compresión", "compression_fracture"),
])
def test_a_question_in_the_callers_words_finds_its_entry(index, lang, said, entry):
    assert index.match(said, lang) == entry


@pytest.mark.parametrize("lang, said", [
    ("en", "um what is kypho plastic"), ("en", "what is ciphoplasty"),
    ("es", "qué es la cifo plastia"), ("es", "qué es la sifoplastia"),
])
def test_speech_recognition_slips_are_repaired(index, lang, said):
    assert index.match(said, lang) == "what_it_treats"


@pytest.mark.parametrize("lang, said, kind", [
    ("en", "how much does kyphoplasty cost", "cost"), ("en", "does my insurance pay for it", "cost"),
    ("es", "medicaid lo paga", "cost"), ("es", "cuánto cuesta", "cost"), ("es", "mi seguro lo paga", "cost"),
    ("en", "can i make an appointment", "visit"), ("es", "quiero una cita", "visit"),
    ("en", "how much tylenol should i take", "medicines"), ("en", "can i take tramadol", "medicines"),
    ("es", "qué dosis de ibuprofeno tomo", "medicines"), ("es", "puedo dejar mis medicinas para el dolor después",
                                                          "medicines"),
    ("en", "should i have kyphoplasty", "your_health"), ("en", "i have a pacemaker can i have it", "your_health"),
    ("en", "am i too old for kyphoplasty", "your_health"), ("en", "what are the results of my mri", "your_health"),
    ("es", "me debo operar", "your_health"), ("es", "estoy embarazada me la pueden hacer", "your_health"),
    ("en", "is it normal to have pain after the procedure", "symptoms"),
    ("en", "what should i do if i see bleeding", "symptoms"),
    ("es", "es normal tener dolor después del procedimiento", "symptoms"), ("es", "qué pasa si me da fiebre después",
                                                                           "symptoms"),
    # A wound that is swollen, red, hot or has pus is a symptom, never "what to watch for" (issue 17).
    ("en", "my incision is swollen and red should i worry", "symptoms"), ("en", "the wound is hot to the touch", "symptoms"),
    ("en", "there is pus on the bandage", "symptoms"), ("es", "la herida está hinchada y roja", "symptoms"),
    ("es", "tengo la herida caliente, me debo preocupar", "symptoms"), ("es", "le sale pus a la herida", "symptoms"),
    ("es", "tengo la heridita inflamada", "symptoms"),
])
def test_out_of_scope_questions_get_their_kind_never_an_article_answer(index, lang, said, kind):
    heard = index.hear(said, lang)
    assert (heard.kind, heard.label) == ("out_of_scope", kind)


@pytest.mark.parametrize("lang, said", [("en", "what is the weather in chicago"), ("en", "can i bring my dog"),
                                        ("es", "cómo está el clima")])
def test_questions_the_article_does_not_answer_get_no_answer(index, lang, said):
    assert index.hear(said, lang).kind == "none"


def test_safe_and_insurance_are_told_apart_in_spanish(index):
    assert index.match("es seguro", "es") == "risks_overview"
    assert index.hear("mi seguro lo cubre", "es").label == "cost"


@pytest.mark.parametrize("lang, said", [
    ("es", "el médico me dijo que tengo una fractura"), ("es", "qué tipo de médico hace la cifoplastia"),
    ("es", "mi médico dice que tengo osteoporosis"), ("es", "me cuesta trabajo entender qué es la cifoplastia"),
    ("en", "what should i do to get ready"),
])
def test_refusal_words_do_not_block_ordinary_questions(index, lang, said):
    """Review B1-B3: "médico" shares a stem with "medicaid"; "me cuesta" is "it is hard for me"."""
    language = index._by_lang[lang]
    assert language.refused(language.plain(said)) is None
    assert index.hear(said, lang).label != "cost"


# Emergencies in natural words: the review's probes and the list, in any order, with extra words.
EMERGENCIES = {
    "en": ["I have chest pain", "i cant breathe", "I can't breathe", "call 911", "nine one one",
           "there is this pressure in my chest", "my mother fell and she can't get up off the floor",
           "i think i am having an allergic reaction", "my legs are numb", "i am bleeding a lot",
           "the wound won't stop bleeding", "she passed out", "my husband fainted", "my legs won't move",
           "it is really hard to breathe", "my throat is swelling up", "i need an ambulance",
           "should i go to the emergency room", "i feel weak on one side of my body", "my face is drooping"],
    "es": ["me caí y no me puedo mover", "tengo dolor en el pecho", "no puedo respirar", "dolor muy fuerte en el pecho",
           "me cuesta respirar", "tengo mucho sangrado", "cuándo debo ir a urgencias", "necesito ir a urgencias",
           "no siento mis piernas", "tengo las piernas dormidas", "creo que tengo una reacción alérgica",
           "mi mamá se cayó y no se puede levantar", "se desmayó", "me falta el aire", "estoy sangrando",
           "la herida no para de sangrar", "se me está hinchando la garganta", "llame a una ambulancia",
           "siento el pecho apretado", "mi esposo no despierta"],
}
# Issue 17, after the first held-out set: an allergic reaction now, stroke signs, sudden one-sided
# numbness or weakness and seizures, in other words than the held-out set's (concepts, not sentences).
EMERGENCIES["en"] += [
    "i broke out in hives and i can hardly swallow", "my throat feels like it is closing up",
    "he has welts everywhere and is short of breath", "i can't swallow", "her mouth is crooked",
    "the left side of his face is drooping", "my wife's speech is slurred", "i can't understand him, his words are jumbled",
    "my mom is suddenly confused", "all of a sudden my right arm went numb", "i can't lift my left arm",
    "my leg suddenly went weak", "he is having a seizure", "she is shaking all over and won't stop",
]
EMERGENCIES["es"] += [
    "tengo ronchas y me cuesta tragar", "siento que se me cierra la garganta", "no puedo pasar saliva",
    "me salieron ronchitas por todos lados y me cuesta respirar", "a mi papá se le torció la cara",
    "mi esposo tiene la boca chueca", "mi mamá arrastra las palabras", "no se le entiende nada lo que dice",
    "mi mamá está muy confundida", "se me durmió el brazo derecho de repente", "no puedo mover la pierna izquierda",
    "se le durmió todo un lado del cuerpo", "no puede levantar el brazo", "mi esposo está convulsionando",
    "le está dando un ataque a mi mamá",
]
# Issue 17, after the second held-out set: a chest grabbed, squeezed or weighed on, and strength gone
# from an arm, a leg or a side (other words than the held-out set's).
EMERGENCIES["en"] += [
    "my dad is clutching his chest and sweating", "it feels like somebody is squeezing my chest",
    "there is a heavy weight on my chest", "she keeps holding her chest", "it feels like a ton of bricks on me",
    "i lost the strength in my right arm", "he has no strength on his left side", "her legs keep giving out",
    "my arm went dead", "the pain goes down my left arm",
]
EMERGENCIES["es"] += [
    "mi mamá se está agarrando el pecho", "siento como si me apretaran el pecho", "tengo una opresión en el pecho",
    "siento el pecho muy pesado", "siento como un elefante encima", "se le fue la fuerza de la pierna derecha",
    "no tengo fuerza en el brazo izquierdo", "mi papá perdió la fuerza de un lado del cuerpo",
    "tengo las piernas sin fuerza, no las puedo mover", "el brazo, no lo puede alzar", "de repente se me fue la fuerza",
    "me quedé sin fuerza en la mano",
]


@pytest.mark.parametrize("lang, said", [(lang, said) for lang, said_list in EMERGENCIES.items() for said in said_list])
def test_emergencies_are_found_by_concept(index, lang, said):
    assert index.is_emergency(said, lang)
    assert index.is_emergency(said, None)  # before a language is chosen: every language


@pytest.mark.parametrize("lang, said", [
    ("en", "when can i drive again"), ("en", "can it cause paralysis"), ("en", "is there a risk of bleeding"),
    ("en", "can i have an allergic reaction"), ("en", "does kyphosis affect breathing"),
    ("en", "can a fall cause it"), ("es", "cuándo puedo manejar"), ("es", "hay riesgo de sangrado"),
    ("es", "la cifosis afecta la respiración"), ("es", "me van a dormir"), ("es", "una caída lo puede causar"),
    ("es", "puedo dormir boca arriba"), ("es", "cuándo puedo regresar a trabajar"), ("es", "puedo dormir de lado"),
    ("en", "when can i lift my grandchildren"), ("en", "can i sleep on my side"),
    ("en", "when will i get my strength back in my legs"), ("en", "how much weight can i lift after"),
    ("en", "can i sleep on my chest"), ("es", "cuándo recupero la fuerza en las piernas"),
    ("es", "cuánto peso puedo cargar después"), ("es", "puedo hacer fuerza con los brazos"),
    ("es", "puedo dormir boca abajo sobre el pecho"), ("es", "cuánto tiempo no puedo levantar cosas pesadas"),
])
def test_ordinary_questions_are_not_emergencies(index, lang, said):
    assert not index.is_emergency(said, lang)


@pytest.mark.parametrize("lang, said", [("en", "uh huh"), ("en", "okay"), ("en", "yeah thanks"), ("es", "ajá"),
                                        ("es", "bueno gracias"), ("es", "sí")])
def test_noise_is_noise(index, lang, said):
    assert index.hear(said, lang).kind == "noise"


@pytest.mark.parametrize("lang, said", [("es", "when can i drive after the procedure"),
                                        ("es", "what are the risks of kyphoplasty"),
                                        ("en", "cuándo puedo manejar después del procedimiento"),
                                        ("en", "cuáles son los riesgos de la cifoplastia")])
def test_a_question_in_the_other_language_is_told_apart(index, lang, said):
    assert index.hear(said, lang).kind == "other_language"


def test_empty_or_unknown_language_gets_no_answer(index):
    assert index.match("", "en") is None
    assert index.hear("um uh", "en").kind == "noise"
    assert index.match("when can i drive", "fr") is None


def test_the_fast_scores_are_scikit_learns(index):
    """ivr/questions.py scores one question without scikit-learn's per-call checks: the same numbers."""
    cases = yaml.safe_load((TESTS / "questions_tuning.yaml").read_text(encoding="utf-8"))
    for lang in ("en", "es"):
        language = index._by_lang[lang]
        for said in [q for questions in cases[lang].values() for q in questions] + ["zzz", ""]:
            words = language.plain(said)
            features = hstack([language.words.transform([words]), language.chars.transform([" ".join(words)])])
            assert np.allclose(language.model.decision_function(features)[0], language.scores(words)), said


def test_every_example_of_an_entry_finds_that_entry(index):
    """The examples themselves are understood, at once or after a confirmation (a duplicate or a
    too-close pair would not be)."""
    data = yaml.safe_load((FIXTURE_MENUS / "questions.yaml").read_text(encoding="utf-8"))["questions"]
    missed = [(lang, entry, question) for entry, spec in data["entries"].items()
              for lang, questions in spec["asked"].items() for question in questions
              if index.hear(question, lang).label != entry and not index.is_emergency(question, lang)]
    assert len(missed) <= 5, missed


# -- the held-out set: floors (bench/questions.py prints the numbers; see the README) ----------------

# Measured once on tests/questions_heldout.yaml (the third held-out set, written by someone who never saw
# questions.yaml, never tuned on), 2026-12-03: these are today's numbers, so that a change cannot make them
# worse unnoticed. The first and second held-out sets are tuning data now
# (tests/questions_tuning_heldout1.yaml, tests/questions_tuning_heldout2.yaml). The targets (right
# >= 90 %, wrong <= 3 %, confirmed <= 20 %, no out-of-scope medical fact, no emergency missed) are MISSED
# where these floors are below them: English right 71 % (44/62), confirmed 26 %, one medical fact and five
# emergencies missed; Spanish right 73 % (45/62), confirmed 23 %, one medical fact and one emergency missed
# (see the README and docs/questions.md). Raise a floor only against a new held-out set.
HELDOUT_FLOORS = {"en": {"right": 0.709, "wrong": 0.0, "confirmed": 0.259, "medical_fact": 1, "missed": 5},
                  "es": {"right": 0.725, "wrong": 0.017, "confirmed": 0.226, "medical_fact": 1, "missed": 1}}


@pytest.mark.skipif(not HELDOUT.exists(), reason="no held-out set")
@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_held_out_set(lang):
    import sys
    sys.path.insert(0, str(TESTS.parent))
    from bench.questions import grade, load_sets
    questions = load_script(FIXTURE_MENUS).questions
    score = grade(questions, load_sets(questions)["held-out"][lang], lang)
    floor = HELDOUT_FLOORS[lang]
    assert score.missed <= floor["missed"], score.misses
    assert score.emergencies >= 15 and score.in_scope >= 60 and score.out_of_scope >= 30
    assert score.share("right") >= floor["right"] and score.share("wrong") <= floor["wrong"], score.misses
    assert score.share("confirmed") <= floor["confirmed"] and score.medical_fact <= floor["medical_fact"]


# -- check on a broken questions file -------------------------------------------------------


def test_a_missing_spanish_answer_names_file_line_and_entry(menus_copy):
    path = menus_copy / "questions.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("        es: >-\n          No levante objetos pesados durante seis semanas después")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    message = script_errors(menus_copy)
    assert re.search(r"questions\.yaml:\d+: questions\.entries\.heavy_lifting: 'es' is missing", message), message


def test_an_unknown_key_in_an_entry_is_reported(menus_copy):
    line = edit(menus_copy / "questions.yaml", "      from_article: [36]\n      asked:\n        en:\n          - how much rest",
                "      from_article: [36]\n      askd:\n        en:\n          - how much rest")
    message = script_errors(menus_copy)
    assert re.search(r"questions\.yaml:\d+: questions\.entries\.rest: unknown key 'askd'", message), message


def test_an_entry_without_spanish_examples_is_reported(menus_copy):
    path = menus_copy / "questions.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("        es:\n          - cuánto reposo necesito")
    end = text.index("      answer:", start)
    path.write_text(text[:start] + "        es: []\n" + text[end:], encoding="utf-8")
    assert re.search(r"questions\.yaml:\d+: questions\.entries\.rest: .*at least 1 item", script_errors(menus_copy))


def test_an_entry_name_with_a_space_is_an_error(menus_copy):
    line = edit(menus_copy / "questions.yaml", "    rest:\n", "    bed rest:\n")
    assert (f"questions.yaml:{line}: questions.entries.bed rest: entry name 'bed rest' may use only a-z, "
            "digits and _") in script_errors(menus_copy)


def test_a_long_answer_and_a_doubled_example_are_warnings(menus_copy):
    edit(menus_copy / "questions.yaml", "Rest is recommended for at least the first twenty-four hours",
         "Rest is recommended " + "for a long long time " * 12 + "for at least the first twenty-four hours")
    edit(menus_copy / "questions.yaml", "          - how long should i rest\n",
         "          - how long should i rest\n          - when can i drive again\n")
    script, problems = check_scripts(menus_copy)
    assert script is not None
    said = "\n".join(str(p) for p in problems)
    assert re.search(r"questions\.entries\.rest: warning: about \d+\.\d s in English .* an answer should take "
                     r"at most 20 s", said), said
    assert ('"when can i drive again" is listed for both walking_and_driving and rest (English)' in said
            or '"when can i drive again" is listed for both rest and walking_and_driving (English)' in said), said


def test_scripts_without_questions_still_load(menus_copy):
    (menus_copy / "questions.yaml").unlink()
    script = load_script(menus_copy)
    assert script.questions is None
    assert not any(p.startswith(("question.", "answer.")) for p in script.prompt_ids())


def test_every_answer_is_a_prompt_the_audio_build_records():
    script = load_script(FIXTURE_MENUS)
    ids = script.prompt_ids()
    assert "answer.heavy_lifting" in ids and "question.no_answer" in ids
    assert script.text("answer.heavy_lifting", "es").startswith("Sobre levantar cosas pesadas: No levante objetos")
    assert script.text("answer.cost", "en").startswith("About cost and insurance: The clinic can answer")
    assert script.text("confirm.heavy_lifting", "en") == "Did you ask about lifting? Say yes or press 1."
    assert {"answer.symptoms", "confirm.rest"} <= set(ids)


# -- the report --------------------------------------------------------------------------------


def test_the_report_counts_questions_per_entry_and_unanswered():
    from datetime import datetime
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from ivr import report

    def row(detail, asked=None):
        return SimpleNamespace(call_sid="CA1", time_utc=datetime(2026, 11, 2, 16), caller_hash=None, lang="en",
                               event="question", detail=detail, seconds=None, recording_url=None, asked=asked)

    rows = [row("heavy_lifting"), row("heavy_lifting"), row("unanswered", "how much is parking"),
            row("unanswered"), row("emergency"), row("rest")]
    summary = report.summarise(rows, ZoneInfo("America/Chicago"), None, ["recovery"],
                               entries=["rest", "heavy_lifting", "driving"])
    assert summary["questions"] == [{"entry": "heavy_lifting", "asked": 2}, {"entry": "rest", "asked": 1},
                                    {"entry": "driving", "asked": 0}]
    assert summary["questions_unanswered"] == 2 and summary["questions_emergency"] == 1
    assert summary["unanswered_words"] == ["how much is parking"]
    text = report.render(summary, "text")
    assert "Questions without an answer: 2. Questions that sounded like an emergency: 1." in text
    assert "  how much is parking" in text
    assert ["questions answered", "heavy_lifting", "2"] in [line.split(",") for line in
                                                           report.render(summary, "csv").splitlines()]


# -- option words or a question (ivr/asking.py) --------------------------------------------------

TOPIC_WORDS = {"en": ["recovery", "after the procedure", "risks", "operator", "clinic", "person", "back"],
               "es": ["recuperación", "riesgos", "operador", "clínica", "persona", "regresar"]}


@pytest.mark.parametrize("lang, said", [
    ("en", "recovery"), ("en", "Recovery, please."), ("en", "tell me about the risks"), ("en", "um operator"),
    ("en", "I want to talk to a person"), ("en", "2"), ("es", "recuperación"), ("es", "operador"),
    ("es", "quiero saber de los riesgos por favor"), ("es", "quiero hablar con una persona"),
])
def test_words_that_only_name_an_option_choose_it(lang, said):
    from ivr.asking import only_option_words
    assert only_option_words(said, lang, TOPIC_WORDS[lang])


@pytest.mark.parametrize("lang, said", [
    ("en", "when can i drive after the procedure"), ("en", "is it done in a clinic"),
    ("en", "what are the risks of the cement leaking"), ("es", "se hace en la clínica"),
    ("es", "cuánto dura la recuperación"),
])
def test_a_question_with_option_words_is_a_question(lang, said):
    from ivr.asking import only_option_words
    assert not only_option_words(said, lang, TOPIC_WORDS[lang])


# -- on the phone: signed webhooks, TwiML read as Twilio would -----------------------------------

ENTRIES = yaml.safe_load((FIXTURE_MENUS / "questions.yaml").read_text(encoding="utf-8"))["questions"]
VOICE_LANGUAGE = {"en": "en-US", "es": "es-MX"}


@functools.cache
def fixture_script():
    return load_script(FIXTURE_MENUS)


def answer_text(entry, lang):
    """What a caller hears for an entry or an out-of-scope kind: its "about", then its answer."""
    return fixture_script().text(f"answer.{entry}", lang)


def prompt(name, lang):
    return ENTRIES["prompts"][name][lang]


def at_topics(call, lang):
    opening = call.answer()
    # The caller lets the opening end (its last Gather, the 911 line's): no 911 line after the menus.
    return call.post(list(opening.root.iter("Gather"))[-1].get("action"), {"Digits": "1" if lang == "en" else "2"})


def only_in(heard, lang):
    assert heard.languages == {VOICE_LANGUAGE[lang]}, heard.said


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_topic_menu_invites_a_question_and_listens_for_one(call, lang):
    heard = at_topics(call, lang)
    assert heard.said[-2][1] == prompt("invite", lang)  # then, once a call, the offer of the other language
    gather = heard.gather
    assert "speech" in gather.get("input")
    assert gather.get("speechModel") == "phone_call" and gather.get("speechTimeout") == "auto"
    assert gather.get("language") == VOICE_LANGUAGE[lang]
    assert ("kyphoplasty" if lang == "en" else "cifoplastia") in gather.get("hints").split(", ")


@pytest.mark.parametrize("lang, said, entry", [
    ("en", "When can I lift things again?", "heavy_lifting"),
    ("es", "¿Voy a estar dormida?", "awake_or_asleep"),
])
def test_a_question_at_the_topic_menu_gets_its_answer_then_the_menu_after_an_answer(call, lang, said, entry):
    at_topics(call, lang)
    heard = call.say(said)
    assert answer_text(entry, lang) in heard.text
    assert heard.text.endswith(prompt("after_answer", lang))
    only_in(heard, lang)
    assert heard.gather.get("input") == "dtmf"  # keys only while the answer plays
    listening = list(heard.root.iter("Gather"))[-1]
    assert "speech" in listening.get("input") and listening.get("speechModel") == "phone_call"


@pytest.mark.parametrize("lang, said, entry", [
    ("en", "can i drive home after", "walking_and_driving"),
    ("es", "cuándo me dan de alta", "going_home"),
])
def test_a_question_after_a_summary(call, lang, said, entry):
    at_topics(call, lang)
    summary = call.press("2")
    assert summary.gather.get("input") == "dtmf"  # keys only while the summary plays
    heard = call.say(said)
    assert answer_text(entry, lang) in heard.text
    only_in(heard, lang)


@pytest.mark.parametrize("lang, first, second, entry", [
    ("en", "will i be awake", "what tests do i need", "tests_needed"),
    ("es", "voy a estar dormida", "qué estudios necesito", "tests_needed"),
])
def test_another_question_after_an_answer(call, lang, first, second, entry):
    at_topics(call, lang)
    call.say(first)
    heard = call.say(second)
    assert answer_text(entry, lang) in heard.text
    only_in(heard, lang)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_after_an_answer_star_is_the_topics_a_topic_key_its_summary_and_0_the_clinic(call, lang):
    at_topics(call, lang)
    call.say("when can i drive" if lang == "en" else "cuándo puedo manejar")
    topics = call.press("*")
    assert topics.text.endswith(prompt("invite", lang))
    call.say("when can i drive" if lang == "en" else "cuándo puedo manejar")
    recovery = call.press("2")
    assert ("twenty-four hours" if lang == "en" else "veinticuatro horas") in recovery.text
    call.say("when can i drive" if lang == "en" else "cuándo puedo manejar")
    assert call.press("0").first("Dial") is not None


@pytest.mark.parametrize("lang, said", [
    ("en", "recovery"), ("en", "tell me about recovery please"), ("es", "recuperación"),
])
def test_option_words_still_choose_the_option(call, lang, said):
    at_topics(call, lang)
    heard = call.say(said)
    assert ("twenty-four hours" if lang == "en" else "veinticuatro horas") in heard.text
    assert prompt("after_answer", lang) not in heard.text


@pytest.mark.parametrize("lang, said", [("en", "operator"), ("es", "quiero hablar con una persona")])
def test_asking_for_the_clinic_still_transfers(call, lang, said):
    at_topics(call, lang)
    assert call.say(said).first("Dial") is not None


@pytest.mark.parametrize("lang, said", [("en", "what is the meaning of life"), ("es", "cómo está el clima")])
def test_no_answer_gets_the_clinic_never_a_guess(call, lang, said):
    at_topics(call, lang)
    heard = call.say(said)
    assert heard.text.startswith(prompt("no_answer", lang))
    assert not any(answer_text(entry, lang) in heard.text for entry in ENTRIES["entries"])
    only_in(heard, lang)


@pytest.mark.parametrize("lang, said, kind", [
    ("en", "how much does kyphoplasty cost", "cost"), ("es", "me pueden dar una cita", "visit"),
    ("en", "can i take tramadol after", "medicines"), ("es", "tengo marcapasos me la pueden hacer", "your_health"),
    ("en", "should i have it", "your_health"), ("en", "is it normal to have pain after the procedure", "symptoms"),
    ("es", "es normal tener dolor después del procedimiento", "symptoms"),
])
def test_out_of_scope_kinds_get_their_own_answer_and_the_clinic(call, lang, said, kind):
    at_topics(call, lang)
    heard = call.say(said)
    assert heard.text.startswith(answer_text(kind, lang))
    assert ("press 0" if lang == "en" else "oprima 0") in answer_text(kind, lang)
    assert not any(answer_text(entry, lang) in heard.text for entry in ENTRIES["entries"])
    # The answer just offered 0: the menu after it does not offer it again at once.
    assert heard.said[-1][1] == prompt("after_answer", lang).split(" For the clinic")[0].split(" Para hablar")[0]
    only_in(heard, lang)


def test_symptoms_after_the_procedure_hear_the_clinic_and_911():
    script = fixture_script()
    assert "call the clinic or your doctor" in script.text("answer.symptoms", "en")
    assert "hang up and dial 9 1 1" in script.text("answer.symptoms", "en")
    assert "cuelgue y marque al 9 1 1" in script.text("answer.symptoms", "es")


# -- emergencies, first, at every menu that listens to speech ------------------------------------

def assert_911_then_topics(heard, lang, clinic=True):
    """The 911 sentence outside any Gather, then the topics and the clinic (no "ask another question";
    no clinic after it was tried twice)."""
    assert heard.verbs[0] == "Say" and heard.said[0] == (VOICE_LANGUAGE[lang], prompt("emergency", lang))
    gather = heard.gather
    assert gather is not None and "speech" in gather.get("input")
    said = " ".join(" ".join(" ".join(say.itertext()).split()) for say in gather.iter("Say"))
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in said
    assert (("press 0" if lang == "en" else "oprima 0") in said) == clinic
    assert prompt("after_answer", lang) not in heard.text and prompt("invite", lang) not in heard.text
    assert not any(answer_text(entry, lang) in heard.text for entry in ENTRIES["entries"])
    only_in(heard, lang)


EMERGENCY_WORDS = {"en": "my chest hurts and I can't breathe", "es": "me cuesta mucho respirar"}


@pytest.mark.parametrize("lang, said", [
    ("en", "I have chest pain"), ("en", "I can't breathe"), ("en", "911"),
    ("en", "my mother fell and she can't get up off the floor"),
    ("es", "me caí y no me puedo mover"), ("es", "tengo dolor en el pecho"), ("es", "dolor muy fuerte en el pecho"),
    ("es", "tengo mucho sangrado"),
])
def test_emergency_at_the_topic_menu_gets_the_911_line_then_the_topics(call, lang, said):
    at_topics(call, lang)
    assert_911_then_topics(call.say(said), lang)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_emergency_after_a_summary_after_an_answer_and_at_a_confirmation(call, lang):
    at_topics(call, lang)
    call.press("2")
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)
    call.say("when can i drive again" if lang == "en" else "cuándo puedo manejar")
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)
    call.say(CONFIRMED[lang][0])
    assert call.heard.gather.get("action").startswith("/ivr/choose/confirm.")
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)


@pytest.mark.parametrize("said", ["I can't breathe", "no puedo respirar", "tengo mucho sangrado"])
def test_emergency_at_the_language_menu_in_either_language(call, said):
    call.answer()
    heard = call.say(said)
    assert heard.verbs[:2] == ["Say", "Say"]
    assert heard.said[:2] == [("en-US", prompt("emergency", "en")), ("es-MX", prompt("emergency", "es"))]
    assert "For English, press 1." in heard.text and "Para español, oprima 2." in heard.text
    assert heard.gather is not None and "speech" in heard.gather.get("input")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_emergency_at_the_clinic_unavailable_menu(call, lang):
    at_topics(call, lang)
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "busy"})
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)


def test_emergency_at_the_bilingual_clinic_unavailable_menu(call):
    call.answer()
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "no-answer"})
    heard = call.say("no puedo respirar")
    assert heard.said[:2] == [("en-US", prompt("emergency", "en")), ("es-MX", prompt("emergency", "es"))]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_emergency_at_the_clinic_closed_menu_and_at_the_last_chance_menu(app, call, lang):
    app.config["CLOCK"] = lambda: CLOSED
    at_topics(call, lang)
    call.press("0")
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)
    for _ in range(3):  # three silences: the last offer (when the clinic opens, a message)
        call.wait_silently()
    assert ("press 7" if lang == "en" else "oprima 7") in call.heard.text
    assert_911_then_topics(call.say(EMERGENCY_WORDS[lang]), lang)


def test_emergency_after_two_transfers_is_never_goodbye(call):
    at_topics(call, "en")
    for _ in range(2):
        call.press("0")
        call.follow("Dial", {"DialCallStatus": "no-answer"})
    assert_911_then_topics(call.say("I have chest pain"), "en", clinic=False)


# -- a confirmation, noise and the other language ----------------------------------------------------

# Questions the fixture's model is not sure of: (words, the entry it asks about).
CONFIRMED = {"en": ("bones", "causes"), "es": ("el cemento", "risk_cement_leakage")}


def confirmation(call, lang):
    at_topics(call, lang)
    said, entry = CONFIRMED[lang]
    heard = call.say(said)
    about = ENTRIES["entries"][entry]["about"][lang]
    assert heard.text == prompt("confirm", lang).format(about=about)
    gather = heard.gather
    assert "speech" in gather.get("input") and gather.get("numDigits") == "1"
    assert gather.get("language") == VOICE_LANGUAGE[lang]
    return entry


@pytest.mark.parametrize("lang, yes", [("en", "yes"), ("en", "1"), ("en", "yeah that's right"), ("es", "sí"),
                                       ("es", "1"), ("es", "sí, eso")])
def test_yes_at_a_confirmation_gives_the_answer(call, lang, yes):
    entry = confirmation(call, lang)
    heard = call.press("1") if yes == "1" else call.say(yes)
    assert heard.text.startswith(answer_text(entry, lang))
    assert heard.text.endswith(prompt("after_answer", lang))
    only_in(heard, lang)


@pytest.mark.parametrize("lang, no", [("en", "no"), ("en", "nope that's not it"), ("es", "no"), ("es", "no, eso no")])
def test_no_at_a_confirmation_gives_the_topics_and_the_clinic(call, lang, no):
    entry = confirmation(call, lang)
    heard = call.say(no)
    assert heard.text.startswith(prompt("not_confirmed", lang))
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in heard.text
    assert ("press 0" if lang == "en" else "oprima 0") in heard.text
    assert answer_text(entry, lang) not in heard.text
    only_in(heard, lang)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_at_a_confirmation_other_keys_keep_their_meaning_and_another_question_is_heard(call, lang):
    confirmation(call, lang)
    assert ("twenty-four hours" if lang == "en" else "veinticuatro horas") in call.press("2").text
    confirmation(call, lang)
    assert call.press("0").first("Dial") is not None
    confirmation(call, lang)
    heard = call.say("when can i lift things again" if lang == "en" else "cuándo puedo levantar cosas pesadas")
    assert heard.text.startswith(answer_text("heavy_lifting", lang))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_silence_at_a_confirmation_gives_the_topics(call, lang):
    confirmation(call, lang)
    heard = call.wait_silently()
    assert heard.text.startswith("Sorry, I did not hear" if lang == "en" else "Disculpe, no escuché")
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in heard.text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_silence_after_an_answer_asks_again_then_ends_politely(call, lang):
    at_topics(call, lang)
    call.say("when can i drive again" if lang == "en" else "cuándo puedo manejar")
    heard = call.wait_silently()
    assert heard.text.endswith(prompt("after_answer", lang))
    assert ("did not hear" if lang == "en" else "no escuché") in heard.text
    for _ in range(4):
        if call.heard.first("Redirect") is None:
            break
        heard = call.wait_silently()
    assert heard.first("Dial") is not None or heard.verbs[-1] == "Hangup"


@pytest.mark.parametrize("lang, noise", [("en", "uh huh"), ("en", "okay"), ("es", "ajá"), ("es", "bueno")])
def test_noise_gets_the_menu_again_not_no_answer(call, lang, noise):
    at_topics(call, lang)
    heard = call.say(noise)
    assert prompt("no_answer", lang) not in heard.text
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in heard.text
    call.say("when can i drive again" if lang == "en" else "cuándo puedo manejar")
    heard = call.say(noise)
    assert prompt("no_answer", lang) not in heard.text and heard.text.endswith(prompt("after_answer", lang))


@pytest.mark.parametrize("lang, said, offer, other", [
    ("es", "when can i drive after the procedure", "For English, press 6.", "en-US"),
    ("en", "cuándo puedo manejar después del procedimiento", "Para español, oprima 6.", "es-MX"),
])
def test_a_question_in_the_other_language_gets_the_offer_to_switch(call, lang, said, offer, other):
    at_topics(call, lang)
    heard = call.say(said)
    assert prompt("no_answer", lang) not in heard.text
    assert (other, offer) in heard.said
    assert ("For recovery, press 2." if lang == "en" else "La recuperación, oprima 2.") in heard.text
    switched = call.press("6")
    assert ("La recuperación, oprima 2." if lang == "en" else "For recovery, press 2.") in switched.text


def test_the_index_is_built_once_per_script_version_not_per_call(client, monkeypatch):
    from conftest import Call
    from ivr import questions
    built = []
    original = questions.QuestionIndex.__init__
    monkeypatch.setattr(questions.QuestionIndex, "__init__",
                        lambda self, *args, **kwargs: built.append(1) or original(self, *args, **kwargs))
    for said in ("when can i drive", "will i be asleep", "how much does it cost"):
        call = Call(client)
        at_topics(call, "en")
        call.say(said)
    assert built == []


# -- the call log: the entry or "unanswered", never the words unless QUESTION_LOG=1 ---------------


def question_rows(app):
    return [(row.detail, row.asked, row.lang) for row in app.extensions["ivr.calllog"].rows()
            if row.event == "question"]


def test_the_call_log_keeps_the_entry_and_never_the_words_by_default(app, call):
    at_topics(call, "en")
    call.say("when can i drive again")
    call.say("my name is Maria Lopez and what is the meaning of life")
    call.say("my name is Maria Lopez and how much does it cost")
    call.say("I have chest pain")
    assert question_rows(app) == [("walking_and_driving", None, "en"), ("unanswered", None, "en"),
                                  ("cost", None, "en"), ("emergency", None, "en")]


@pytest.fixture
def logging_questions(config):
    return {**config, "QUESTION_LOG": True}


def test_with_question_log_the_words_of_unanswered_questions_are_kept_and_purged(logging_questions):
    from datetime import timedelta

    from conftest import OPEN_HOURS, Call
    from ivr import create_app
    app = create_app(logging_questions)
    call = Call(app.test_client())
    at_topics(call, "es")
    call.say("cuándo puedo manejar")
    call.say("cuál es la capital de francia")
    assert question_rows(app) == [("walking_and_driving", None, "es"),
                                  ("unanswered", "cuál es la capital de francia", "es")]
    report = app.test_cli_runner().invoke(args=["report"])
    assert "Questions without an answer: 1." in report.output
    assert "  cuál es la capital de francia" in report.output
    assert [line.split() for line in report.output.splitlines() if line.startswith("walking_and_driving")] == [
        ["walking_and_driving", "1"]]
    later = OPEN_HOURS + timedelta(days=91)
    app.config["CLOCK"] = lambda: later
    purged = app.test_cli_runner().invoke(args=["purge", "--older-than", "90d", "--yes"])
    assert purged.exit_code == 0, purged.output
    assert question_rows(app) == []


# -- simulate --say ----------------------------------------------------------------------------


def test_simulate_say_asks_a_question_at_the_topic_menu():
    from click.testing import CliRunner

    from ivr.staff import simulate
    result = CliRunner().invoke(simulate, ["--menus", str(FIXTURE_MENUS), "--lang", "es", "--say",
                                           "¿Voy a estar dormida?"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    asked = lines.index('Caller says "¿Voy a estar dormida?" (--say).')
    assert lines[asked + 1] == f"Line [es-MX]: {answer_text('awake_or_asleep', 'es')}"
    assert lines[-1] == "Caller hangs up."


def test_simulate_say_needs_a_language():
    from click.testing import CliRunner

    from ivr.staff import simulate
    result = CliRunner().invoke(simulate, ["--menus", str(FIXTURE_MENUS), "--say", "will i be awake"])
    assert result.exit_code == 2 and "add --lang en or --lang es" in result.output


# -- the preview page's "or say" box -------------------------------------------------------------


def test_the_preview_answers_a_question_said_in_its_box(config):
    from ivr import create_app
    client = create_app({**config, "IVR_PREVIEW": True}).test_client()

    def step(body):
        response = client.post("/preview/step", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    turn = step({})
    turn = step({"answer": {"press": "1"}, "wait": turn["wait"], "rest": turn["rest"], "call_sid": turn["call_sid"]})
    turn = step({"answer": {"say": "when can i lift things again"}, "wait": turn["wait"], "rest": turn["rest"],
                 "call_sid": turn["call_sid"]})
    heard = " ".join(verb.get("text", "") for verb in turn["heard"])
    assert answer_text("heavy_lifting", "en") in heard
    assert turn["keys"] == ["1", "2", "3", "4", "6", "7", "8", "0", "*"]
