"""The scripts (a copy in tests/fixtures/menus): staff mistakes caught at start-up with file and line,
and the content rules of check (key facts, Spanish only on the Spanish path)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURE_MENUS, edit, script_errors
from ivr import create_app
from ivr.menus import check_scripts, load_script
from ivr.script import MAX_OPTIONS, Script
from ivr.script_yaml import ScriptError, read_files

MENUS = FIXTURE_MENUS


@pytest.fixture(scope="module")
def script():
    return load_script(MENUS)


def test_menus_follow_the_keypad_conventions(script):
    for menu_id in ("topics", "after_summary", "clinic_unavailable"):
        menu = script.menu(menu_id)
        assert len(menu.options) <= MAX_OPTIONS
        assert menu.options.get("0") is None or menu.options["0"].goes_to == "clinic"
    assert "For recovery, press 2." in script.text("menu.topics", "en")
    assert "Para los temas, oprima asterisco." in script.text("menu.after_summary", "es")


# -- staff mistakes --------------------------------------------------------------


def test_missing_spanish_text_names_file_line_and_prompt(menus_copy):
    path = menus_copy / "summaries.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("    es: >-\n      Esto es")
    end = text.index("  risks:")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    message = script_errors(menus_copy)
    assert re.search(r"summaries\.yaml:\d+: summaries\.recovery: 'es' is missing", message), message


def test_unknown_key_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", "    back_to: topics\n    intro:", "    back_to: topics\n    intor:")
    message = script_errors(menus_copy)
    assert f"menus.yaml:{line + 1}: menus.clinic_unavailable: unknown key 'intor'" in message


def test_option_pointing_nowhere_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    message = script_errors(menus_copy)
    assert f"menus.yaml:{line}: menus.topics: option 2 goes to 'recovry', which does not exist" in message


def test_duplicate_digit_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For who', '      "3":\n        say: {en: For who')
    message = script_errors(menus_copy)
    assert f'menus.yaml:{line}: menus.topics: option "3" is written twice; only one can count' in message


def test_duplicate_key_outside_a_menu_names_where_it_is(menus_copy):
    edit(menus_copy / "summaries.yaml", "  recovery:\n    en: >-", "  recovery:\n    es: Hola.\n    en: >-")
    line = edit(menus_copy / "summaries.yaml", "    es: >-\n      Esto es", "    es: >-\n      Esto es")
    message = script_errors(menus_copy)
    assert f'summaries.yaml:{line}: summaries.recovery: "es" is written twice; only one can count' in message


def test_gap_in_numbering_is_reported(menus_copy):
    edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For who', '      "5":\n        say: {en: For who')
    assert "without gaps" in script_errors(menus_copy)


def test_unquoted_star_gets_a_helpful_message(menus_copy):
    edit(menus_copy / "menus.yaml", '      "*":\n        say: {en: For the topics, es: Para los temas}\n        goes_to: topics\n        hints: {en: [topics], es: [temas]}\n      "0":\n        say: {en: To speak',
         '      *:\n        say: {en: For the topics, es: Para los temas}\n        goes_to: topics\n        hints: {en: [topics], es: [temas]}\n      "0":\n        say: {en: To speak')
    assert 'must be written in quotes' in script_errors(menus_copy)


def test_invalid_scripts_stop_start_up(config, menus_copy):
    edit(menus_copy / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    config["MENUS_DIR"] = menus_copy
    with pytest.raises(ScriptError, match="recovry"):
        create_app(config)


# -- content rules of check (not tests of the shipped words) ---------------------


def line_of(path: Path, text: str) -> int:
    content = path.read_text(encoding="utf-8")
    return content[: content.index(text)].count("\n") + 1


def test_a_summary_that_drops_a_key_fact_is_an_error_in_the_staffs_words(menus_copy):
    edit(menus_copy / "summaries.yaml", "Puede caminar, pero no debe manejar.", "Puede moverse, pero no debe manejar.")
    summary = line_of(menus_copy / "summaries.yaml", "    es: >-\n      Esto es lo que puede esperar")
    facts = line_of(menus_copy / "key_facts.yaml", '"caminar"')
    assert (f"summaries.yaml:{summary}: summaries.recovery: recovery (es) no longer mentions 'caminar', "
            f"a key fact from the article: say it again in this summary (the key facts are listed in "
            f"key_facts.yaml:{facts})") in script_errors(menus_copy)


def test_a_key_fact_with_choices_needs_one_of_them(menus_copy):
    edit(menus_copy / "summaries.yaml", "rayos X", "imágenes")
    assert "procedure (es) no longer mentions 'rayos x', a key fact" in script_errors(menus_copy)
    edit(menus_copy / "key_facts.yaml", '"rayos x"', '"rayos x | imágenes"')
    load_script(menus_copy)


def test_key_facts_for_a_summary_that_does_not_exist(menus_copy):
    edit(menus_copy / "key_facts.yaml", "  recovery:\n", "  recuperacion:\n")
    assert "key facts for 'recuperacion', but there is no summary 'recuperacion'" in script_errors(menus_copy)


def test_scripts_without_key_facts_are_fine(menus_copy):
    (menus_copy / "key_facts.yaml").unlink()
    assert load_script(menus_copy).key_facts == {}


# -- each text in its slot's language ----------------------------------------------


@pytest.mark.parametrize("file,old,new,where", [
    ("menus.yaml", "es: Disculpe, no escuché ninguna opción.", "es: Sorry, I did not hear a choice.", "prompts.no_input"),
    ("menus.yaml", "es: Lo sentimos. Hubo un problema en nuestro sistema.",
     "es: We are sorry. Something went wrong on our side.", "prompts.apology"),
    ("clinic.yaml", "La clínica está cerrada en este momento. Abrimos {opening}.\n      Si tiene una emergencia, cuelgue y "
     "marque al 9 1 1.", "The clinic is closed right now. We open {opening}.\n      If you have an emergency, hang up "
     "and dial 9 1 1.", "clinic_hours"),
], ids=["no_input", "apology", "clinic closed"])
def test_english_left_in_a_spanish_slot_is_an_error(menus_copy, file, old, new, where):
    line = edit(menus_copy / file, old, new)
    if "\n" in old:
        line -= 1  # a block text: its es: line
    assert script_errors(menus_copy).endswith(f"/{file}:{line}: {where}: the Spanish text (es:) is in English: write "
                                              "it in Spanish; callers who chose Spanish hear every word of it")


def test_spanish_in_an_english_slot_is_an_error(menus_copy):
    line = edit(menus_copy / "menus.yaml", "en: Thank you. Your message was saved. The clinic will call you back. Goodbye.",
                "en: Gracias. Su mensaje quedó guardado. La clínica le devolverá la llamada. Hasta luego.")
    assert f"menus.yaml:{line}: prompts.voicemail_thanks: the English text (en:) is in Spanish" in script_errors(menus_copy)


def test_one_english_word_or_sentence_in_spanish_is_an_error(menus_copy):
    edit(menus_copy / "menus.yaml", "es: La recuperación}", "es: The recuperación}")
    assert ('menus.topics: the Spanish text (es:) has the English word "The" in it: "The recuperación, oprima 2.": '
            "write it in Spanish") in script_errors(menus_copy)


def test_an_english_sentence_in_a_spanish_summary_is_an_error_at_its_line(menus_copy):
    line = edit(menus_copy / "summaries.yaml", "      No levante objetos pesados durante seis semanas.\n",
                "      No levante objetos pesados durante seis semanas.\n      Keep an eye on the procedure site.\n") + 1
    assert (f'summaries.yaml:{line}: summaries.recovery: the Spanish text (es:) has English in it: "Keep an eye on '
            'the procedure site."') in script_errors(menus_copy)


def test_names_and_short_texts_are_not_taken_for_the_other_language(menus_copy):
    edit(menus_copy / "menus.yaml", "es: Gracias por llamar a Dallas Pain Relief Center. Hasta luego.",
         "es: Gracias por llamar a Dallas Pain Relief Center, con el Dr. Rodriguez. Kyphoplasty, Medicare. Hasta luego.")
    edit(menus_copy / "menus.yaml", "es: No recibimos ningún mensaje.", "es: Okay.")  # too short to tell
    load_script(menus_copy)


def test_an_english_example_among_the_spanish_ones_is_an_error(menus_copy):
    line = edit(menus_copy / "questions.yaml", "          - cuándo puedo volver a cargar cosas",
                "          - when can i lift things again")
    assert (f'questions.yaml:{line}: questions.entries.heavy_lifting: the example "when can i lift things again" under '
            "asked: es: is in English: write it in Spanish, or move it to the English examples") in script_errors(menus_copy)


def test_an_english_summary_pasted_into_spanish_is_reported_once_as_the_cause(menus_copy):
    text = (menus_copy / "summaries.yaml").read_text(encoding="utf-8")
    english = text.split("  recovery:\n    en: >-\n", 1)[1].split("    es: >-\n", 1)[0]
    spanish = text.split("    es: >-\n      Esto es", 1)[1].split("  risks:", 1)[0]
    line = edit(menus_copy / "summaries.yaml", "      Esto es" + spanish, english)
    errors = script_errors(menus_copy).splitlines()
    assert errors == [f"{menus_copy}/summaries.yaml:{line - 1}: summaries.recovery: the Spanish text (es:) is in "
                      "English: write it in Spanish; callers who chose Spanish hear every word of it"]


# -- what a text says: the article's facts, numbers and medicines ------------------


def test_deleting_the_going_home_sentence_is_caught_though_twenty_four_hours_is_said_elsewhere(menus_copy):
    line = edit(menus_copy / "summaries.yaml", "      Patients generally go home within twenty-four hours.\n", "")
    facts = line_of(menus_copy / "key_facts.yaml", "go home | discharged + twenty-four hours")
    assert (f"summaries.yaml:{line - 2}: summaries.recovery: recovery (en) no longer says 'go home' or 'discharged' "
            "together with 'twenty-four hours' in one sentence, a key fact from the article: say it again in this "
            f"summary (the key facts are listed in key_facts.yaml:{facts})") in script_errors(menus_copy)


def test_a_tied_fact_split_across_sentences_is_caught_in_spanish_too(menus_copy):
    edit(menus_copy / "summaries.yaml", "se les da de alta dentro de las veinticuatro horas.",
         "se les da de alta pronto.")
    assert ("recovery (es) no longer says 'de alta' together with 'veinticuatro horas' in one sentence"
            in script_errors(menus_copy))


@pytest.mark.parametrize("answer,message", [
    ("Avoid heavy lifting for two weeks after the procedure.",
     "\"Avoid heavy lifting for two weeks after the procedure.\" says 'heavy lifting' without 'six weeks': the "
     "article ties them, so say 'six weeks' in this sentence"),
    ("Avoid heavy lifting after the procedure.",
     "\"Avoid heavy lifting after the procedure.\" says 'heavy lifting' without 'six weeks'"),
    ("Avoid lifting for 2 weeks after the procedure.",
     'the English text says "2 weeks", a length of time the article does not give (the article\'s: twenty-four '
     "hours, six weeks, age of fifty): say only what docs/source-article.txt says"),
    ("Take aspirin for the pain for six weeks.",
     'the English text says "aspirin", a medicine the article does not name'),
    ("Avoid lifting for six weeks, or seven.", 'the English text says "seven", a number the article does not have'),
], ids=["wrong time", "no time", "digits", "medicine", "number in words"])
def test_a_question_answer_is_held_to_the_article(menus_copy, answer, message):
    line = edit(menus_copy / "questions.yaml", "Avoid heavy lifting for six weeks after the procedure.", answer)
    assert f"questions.yaml:{line}: questions.entries.heavy_lifting: {message}" in script_errors(menus_copy)


def test_numbers_in_spanish_words_are_held_to_the_article(menus_copy):
    edit(menus_copy / "summaries.yaml", "No levante objetos pesados durante seis semanas.",
         "No levante objetos pesados durante seis semanas. Descanse tres días.")
    assert 'the Spanish text says "tres días", a length of time the article does not give' in script_errors(menus_copy)


def test_keys_and_nine_one_one_are_not_numbers_of_the_article(menus_copy):
    edit(menus_copy / "menus.yaml", "en: That is not one of the choices.", "en: That is not one of the choices. "
         "To hear the topics, press 3, or press the star key. In an emergency, dial 9 1 1 or 911.")
    load_script(menus_copy)


# -- edits that must never take the line down ------------------------------------


def test_a_file_saved_in_another_encoding_gets_a_plain_message(menus_copy):
    path = menus_copy / "summaries.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("latin-1"))  # what a Windows editor's "ANSI" does
    line = text[: text.index("balón")].count("\n") + 1
    assert (f'summaries.yaml:{line}: (file): this file is not saved as UTF-8 (here "bal\ufffdn," is unreadable): '
            "save it as UTF-8 (in Notepad: File, Save as, Encoding: UTF-8) and run make check again") \
        in script_errors(menus_copy)


def test_a_byte_order_mark_is_fine(menus_copy):
    path = menus_copy / "summaries.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-8-sig"))
    load_script(menus_copy)


def test_a_control_character_gets_a_plain_message(menus_copy):
    line = edit(menus_copy / "summaries.yaml", "Avoid heavy lifting", "Avoid\x07 heavy lifting")
    assert (f"summaries.yaml:{line}: (file): this line has an invisible control character (U+0007), often pasted "
            "from another program: type the line again, without pasting, and run make check again") \
        in script_errors(menus_copy)


def test_a_text_cut_at_a_hash_says_to_quote_it(menus_copy):
    line = edit(menus_copy / "menus.yaml", "    en: That is not one of the choices.",
                "    en: To try again, press # and then 1.")
    assert (f'menus.yaml:{line}: prompts.invalid_choice: the text stops before "# and then 1.": after a space, # '
            'starts a note that is never said. If the # is part of the words, put the whole text in double quotes: '
            '"To try again, press # and then 1."; if it is a note for staff, move it to a line of its own above this one') in script_errors(menus_copy)
    edit(menus_copy / "menus.yaml", "    en: To try again, press # and then 1.",
         '    en: "To try again, press # and then 1."')
    assert load_script(menus_copy).text("invalid_choice", "en") == "To try again, press # and then 1."


@pytest.mark.parametrize("words", ["No", "Yes", "On", "1.5", "911"])
def test_unquoted_words_stay_words(menus_copy, words):
    # YAML 1.1 would read these as true/false or numbers, which are not words to say.
    edit(menus_copy / "menus.yaml", "    es: Esa no es una de las opciones.", f"    es: {words}")
    data, problems = read_files(sorted(menus_copy.glob("*.yaml")))  # as read, before check's rules on numbers
    assert problems == [] and Script.model_validate(data).text("invalid_choice", "es") == words


def test_a_summary_name_with_a_space_or_accent_is_refused(menus_copy):
    # Its name travels in the call's signed web addresses: every key after it would get 403.
    line = edit(menus_copy / "summaries.yaml", "  recovery:\n", "  side effects:\n")
    edit(menus_copy / "menus.yaml", "goes_to: recovery", "goes_to: side effects")
    assert (f"summaries.yaml:{line}: summaries.side effects: the name 'side effects' may use only small letters "
            "a to z, digits and _ (no spaces or accents): call it side_effects, here and in every "
            "goes_to: side effects") in script_errors(menus_copy)
    edit(menus_copy / "summaries.yaml", "  side effects:\n", "  recuperación:\n")
    edit(menus_copy / "menus.yaml", "goes_to: side effects", "goes_to: recuperación")
    assert "call it recuperacion" in script_errors(menus_copy)


def test_a_fresh_start_with_a_bad_file_refuses_with_the_message(menus_copy, tmp_path):
    path = menus_copy / "summaries.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    root = Path(__file__).parent.parent
    program = f"import runpy, ivr; ivr.DEFAULT_MENUS_DIR = {str(menus_copy)!r}; runpy.run_path('app.py')"
    # A fresh start: no version of the scripts ever passed check here.
    started = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "IVR_DEV_INSECURE": "1", "TWILIO_AUTH_TOKEN": "",
                                              "LAST_GOOD_SCRIPTS_DIR": str(tmp_path / "none kept")})
    assert started.returncode == 1
    assert "summaries.yaml:" in started.stderr and "this file is not saved as UTF-8" in started.stderr
    assert "The line does not start with scripts that have errors" in started.stderr
    assert "Traceback" not in started.stderr


# -- the YAML mistakes staff make most, each with its message ---------------------

INDENTATION = ("the spaces at the start of lines {first} to {last} do not line up: the lines of one text start with "
               "the same spaces, two more than the en: or es: above them, and en: and es: start with the same "
               "spaces as each other")
QUOTE = 'this text starts with a quote (") but the line does not close it: add the closing quote at the end of the text'
COLON = ("this text has a colon and a space (': '), which YAML reads as the start of a new name: put the whole "
         'text in double quotes, like en: "Note: the clinic is closed."')
TAB = "this line has a tab: indent with spaces only (set your editor to put spaces for the Tab key)"
INVALID_EN = "    en: That is not one of the choices."
RECOVERY_SAY = "say: {en: For recovery, es:"
LIFTING = "      Avoid heavy lifting for six weeks."


@pytest.mark.parametrize("file,old,new,message", [
    ("menus.yaml", INVALID_EN, "    en: Sorry: that is not one of the choices.", f"{{line}}: (file): {COLON}"),
    ("menus.yaml", RECOVERY_SAY, "say: {en: For recovery: healing, es:", f"{{line}}: (file): {COLON}"),
    ("menus.yaml", RECOVERY_SAY, "say: {en: For recovery, after the procedure, es:",
     "{line}: menus.topics: 'after the procedure' looks like the end of the text before it: inside { }, a comma "
     'ends a text. Put the whole text in double quotes: en: "For recovery, after the procedure"'),
    ("menus.yaml", INVALID_EN, '    en: "That is not one of the choices.', f"{{line}}: (file): {QUOTE}"),
    ("menus.yaml", RECOVERY_SAY, 'say: {en: "For recovery, es:', f"{{line}}: (file): {QUOTE}"),
    ("menus.yaml", INVALID_EN, "    en:",
     "{line}: prompts.invalid_choice: the English text (en:) is empty: write what the line should say"),
    ("menus.yaml", INVALID_EN, '    en: ""',
     "{line}: prompts.invalid_choice: the English text (en:) is empty: write what the line should say"),
    ("summaries.yaml", LIFTING, "    Avoid heavy lifting for six weeks.",
     "{line}: (file): " + INDENTATION.replace("{first}", "{line}").replace("{last}", "{line_9}")),
    ("menus.yaml", INVALID_EN, "      en: That is not one of the choices.",
     "{line}: (file): " + INDENTATION.replace("{first}", "{line}").replace("{last}", "{line_1}")),
    ("menus.yaml", INVALID_EN, "\ten: That is not one of the choices.", f"{{line}}: (file): {TAB}"),
    ("summaries.yaml", LIFTING, "\tAvoid heavy lifting for six weeks.", f"{{line}}: (file): {TAB}"),
], ids=["colon", "colon in {}", "comma in {}", "missing quote", "missing quote in {}", "empty", "empty quotes",
        "text pulled left", "language pushed right", "tab before a language", "tab in a text"])
def test_the_yaml_mistakes_staff_make_most_get_a_message_with_the_fix(menus_copy, file, old, new, message):
    line = edit(menus_copy / file, old, new)
    expected = f"{file}:" + message.replace("{line}", str(line)).replace("{line_1}", str(line + 1)) \
        .replace("{line_9}", str(line + 9))
    assert expected in script_errors(menus_copy).splitlines()[0], script_errors(menus_copy)


# -- mistakes whose cause staff must read first, in their words --------------------


def test_a_staff_note_inside_a_block_text_is_caught_with_advice_that_works(menus_copy):
    en = line_of(menus_copy / "summaries.yaml", "  recovery:\n    en: >-") + 1
    line = edit(menus_copy / "summaries.yaml", "      Avoid heavy lifting for six weeks.\n",
                "      Avoid heavy lifting for six weeks.\n      # TODO ask Dr. Rodriguez about swimming\n") + 1
    message = ('"# TODO ask Dr. Rodriguez about swimming" is a note for staff, but it is inside the text, so callers '
               f'hear it: move it above the "en:" line (line {en}), where a line starting with # is never said, or '
               "delete it")
    assert f"summaries.yaml:{line}: summaries.recovery: {message}" in script_errors(menus_copy)
    # As advised: the note above en:, and the line speaks the text without it.
    edit(menus_copy / "summaries.yaml", "      # TODO ask Dr. Rodriguez about swimming\n", "")
    edit(menus_copy / "summaries.yaml", "  recovery:\n    en: >-", "  recovery:\n    # TODO ask Dr. Rodriguez\n    en: >-")
    assert "TODO" not in load_script(menus_copy).text("summary.recovery", "en")


def test_a_staff_note_out_dented_inside_a_block_text_is_named(menus_copy):
    line = edit(menus_copy / "summaries.yaml", "      Avoid heavy lifting for six weeks.\n",
                "      Avoid heavy lifting for six weeks.\n  # TODO ask Dr. Rodriguez\n") + 1
    assert script_errors(menus_copy).splitlines()[0].endswith(
        f'summaries.yaml:{line}: (file): "# TODO ask Dr. Rodriguez" is a note for staff inside a text, which ends the '
        "text there: move the note above the en: or es: line of that text, or delete it")


@pytest.mark.parametrize("es", ["  es: >-", "es: >-"], ids=["under the topic", "at the left edge"])
def test_an_out_dented_spanish_text_says_how_many_spaces(menus_copy, es):
    line = edit(menus_copy / "summaries.yaml", "    es: >-\n      Esto es", f"{es}\n      Esto es")
    errors = script_errors(menus_copy).splitlines()
    assert errors[0].endswith(f"summaries.yaml:{line}: (file): this es: starts with fewer spaces than the en: above "
                              "it, so it is not read as the Spanish of the same text: start it with 4 spaces, like "
                              "that en:"), errors
    assert not any("Input should be" in error or "'es' is missing" in error for error in errors), errors


def test_single_quotes_around_a_text_with_an_apostrophe(menus_copy):
    line = edit(menus_copy / "menus.yaml", INVALID_EN, "    en: 'That's not one of the choices.'")
    assert script_errors(menus_copy).endswith(
        f"menus.yaml:{line}: (file): this text starts with a single quote ('), and the apostrophe in it (like That's) "
        'ends it there: put the whole text in double quotes instead, like en: "That\'s not one of the choices."')


@pytest.mark.parametrize("new", ["    en: “Sorry: that is not one of the choices.”",
                                 "    en: ‘Sorry: that is not one of the choices.’"])
def test_curly_quotes_from_word_are_named(menus_copy, new):
    line = edit(menus_copy / "menus.yaml", INVALID_EN, new)
    assert script_errors(menus_copy).endswith(
        f"menus.yaml:{line}: (file): this text is in curly quotes (“ ”), as Word or an e-mail writes them, which YAML "
        'does not take for quotes: type the two quotes again here, as straight double quotes ("), like en: "Note: '
        'the clinic is closed."')


def test_a_broken_press_line_is_named_without_prompt_ids(menus_copy):
    line = edit(menus_copy / "menus.yaml", 'en: "{option}, press {key}."', 'en: "{option}, press {key} {."')
    errors = script_errors(menus_copy)
    assert errors.endswith(f'menus.yaml:{line}: press: "{{option}}, press {{key}} {{." may use only {{option}} and {{key}}, '
                           'each in { }, like "{option}, press {key}."'), errors
