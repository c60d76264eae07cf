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
from ivr.script import MAX_OPTIONS
from ivr.script_yaml import ScriptError

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
    line = edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For candidates', '      "3":\n        say: {en: For candidates')
    message = script_errors(menus_copy)
    assert f'menus.yaml:{line}: menus.topics: option "3" is written twice; only one can count' in message


def test_duplicate_key_outside_a_menu_names_where_it_is(menus_copy):
    edit(menus_copy / "summaries.yaml", "  recovery:\n    en: >-", "  recovery:\n    es: Hola.\n    en: >-")
    line = edit(menus_copy / "summaries.yaml", "    es: >-\n      Esto es", "    es: >-\n      Esto es")
    message = script_errors(menus_copy)
    assert f'summaries.yaml:{line}: summaries.recovery: "es" is written twice; only one can count' in message


def test_gap_in_numbering_is_reported(menus_copy):
    edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For candidates', '      "5":\n        say: {en: For candidates')
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
    edit(menus_copy / "summaries.yaml", "objetos pesados durante seis semanas", "objetos pesados por un tiempo")
    summary = line_of(menus_copy / "summaries.yaml", "    es: >-\n      Esto es lo que puede esperar")
    facts = line_of(menus_copy / "key_facts.yaml", '"seis semanas"')
    assert (f"summaries.yaml:{summary}: summaries.recovery: recovery (es) no longer mentions 'seis semanas', "
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


def test_english_on_the_spanish_path_is_a_warning(menus_copy):
    edit(menus_copy / "menus.yaml", "es: La recuperación}", "es: The recuperación}")
    script, found = check_scripts(menus_copy)
    assert script is not None
    assert ["menus.topics: warning: the Spanish text says 'The', an English word: callers who chose Spanish "
            "should hear only Spanish"] == [str(p).split(": ", 1)[1] for p in found if "menus.yaml" in str(p)]


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
            '"To try again, press # and then 1."; if it is a note, put it on a line of its own') in script_errors(menus_copy)
    edit(menus_copy / "menus.yaml", "    en: To try again, press # and then 1.",
         '    en: "To try again, press # and then 1."')
    assert load_script(menus_copy).text("invalid_choice", "en") == "To try again, press # and then 1."


@pytest.mark.parametrize("words", ["No", "Yes", "On", "1.5", "911"])
def test_unquoted_words_stay_words(menus_copy, words):
    # YAML 1.1 would read these as true/false or numbers, which are not words to say.
    edit(menus_copy / "menus.yaml", "    es: Esa no es una de las opciones.", f"    es: {words}")
    assert load_script(menus_copy).text("invalid_choice", "es") == words


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


def test_a_fresh_start_with_a_bad_file_refuses_with_the_message(menus_copy):
    path = menus_copy / "summaries.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    root = Path(__file__).parent.parent
    program = f"import runpy, ivr; ivr.DEFAULT_MENUS_DIR = {str(menus_copy)!r}; runpy.run_path('app.py')"
    started = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "IVR_DEV_INSECURE": "1", "TWILIO_AUTH_TOKEN": ""})
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
