"""The scripts: faithful summaries, and staff mistakes caught at start-up with file and line."""
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ivr import create_app
from ivr.checks import spoken_seconds
from ivr.menus import load_script
from ivr.script import MAX_OPTIONS
from ivr.script_yaml import ScriptError

MENUS = Path(__file__).parent.parent / "ivr" / "menus"
KEY_FACTS = yaml.safe_load((Path(__file__).parent / "key_facts.yaml").read_text(encoding="utf-8"))
ARTICLE = (Path(__file__).parent.parent / "docs" / "source-article.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def script():
    return load_script(MENUS)


@pytest.mark.parametrize("topic", ["procedure", "recovery", "risks", "candidates"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_summary_keeps_the_articles_key_facts(script, topic, lang):
    text = script.text(f"summary.{topic}", lang).lower()
    missing = [fact for fact in KEY_FACTS[topic][lang]
               if not any(alt.strip() in text for alt in fact.split("|"))]
    assert not missing, f"{topic} ({lang}) lost: {missing}"


def test_recovery_facts_callers_need(script):
    en, es = script.text("summary.recovery", "en"), script.text("summary.recovery", "es")
    for fact in ["within twenty-four hours", "should not drive", "at least the first twenty-four hours",
                 "heavy lifting for six weeks", "bleeding", "infection"]:
        assert fact in en
    for fact in ["se les da de alta dentro de las veinticuatro horas", "no debe manejar", "por lo menos las primeras veinticuatro horas",
                 "objetos pesados durante seis semanas", "sangrado", "infección"]:
        assert fact in es


def test_no_numbers_the_article_does_not_have(script):
    article_numbers = set(re.findall(r"\d+", ARTICLE)) | {"9", "0", "1", "2", "3", "4"}  # 9 1 1, said digit by digit
    for prompt in script.prompt_ids():
        for lang in ("en", "es"):
            assert set(re.findall(r"\d+", script.text(prompt, lang))) <= article_numbers, prompt


@pytest.mark.parametrize("topic", ["procedure", "recovery", "risks", "candidates"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_summary_is_45_to_90_seconds_at_a_calm_pace(script, topic, lang):
    seconds = spoken_seconds(script.text(f"summary.{topic}", lang))
    assert 45 <= seconds <= 90, seconds


def test_menus_follow_the_keypad_conventions(script):
    for menu_id in ("topics", "after_summary", "clinic_unavailable"):
        menu = script.menu(menu_id)
        assert len(menu.options) <= MAX_OPTIONS
        assert menu.options.get("0") is None or menu.options["0"].goes_to == "clinic"
    assert "For recovery, press 2." in script.text("menu.topics", "en")
    assert "Para regresar a los temas, oprima asterisco." in script.text("menu.after_summary", "es")


def test_spanish_prompts_are_spanish(script):
    english_words = re.compile(r"\b(press|the|for|please|thank you)\b", re.I)
    for prompt in script.prompt_ids():
        assert not english_words.search(script.text(prompt, "es").replace("Dallas Pain Relief Center", "")), prompt


# -- staff mistakes --------------------------------------------------------------


@pytest.fixture
def menus_copy(tmp_path):
    target = tmp_path / "menus"
    shutil.copytree(MENUS, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def problems(menus_dir) -> str:
    with pytest.raises(ScriptError) as caught:
        load_script(menus_dir)
    return str(caught.value)


def test_missing_spanish_text_names_file_line_and_prompt(menus_copy):
    path = menus_copy / "summaries.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("    es: >-\n      Esto es")
    end = text.index("  risks:")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    message = problems(menus_copy)
    assert re.search(r"summaries\.yaml:\d+: summaries\.recovery: 'es' is missing", message), message


def test_unknown_key_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", "    back_to: topics\n    intro:", "    back_to: topics\n    intor:")
    message = problems(menus_copy)
    assert f"menus.yaml:{line + 1}: menus.clinic_unavailable: unknown key 'intor'" in message


def test_option_pointing_nowhere_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    message = problems(menus_copy)
    assert f"menus.yaml:{line}: menus.topics: option 2 goes to 'recovry', which does not exist" in message


def test_duplicate_digit_is_reported(menus_copy):
    line = edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For who', '      "3":\n        say: {en: For who')
    message = problems(menus_copy)
    assert f'menus.yaml:{line}: menus.topics: option "3" is written twice; only one can count' in message


def test_duplicate_key_outside_a_menu_names_where_it_is(menus_copy):
    edit(menus_copy / "summaries.yaml", "  recovery:\n    en: >-", "  recovery:\n    es: Hola.\n    en: >-")
    line = edit(menus_copy / "summaries.yaml", "    es: >-\n      Esto es", "    es: >-\n      Esto es")
    message = problems(menus_copy)
    assert f'summaries.yaml:{line}: summaries.recovery: "es" is written twice; only one can count' in message


def test_indentation_mistake_names_the_line_it_starts_on(menus_copy):
    # One line of a summary pulled two spaces left: PyYAML notices only two lines later.
    line = edit(menus_copy / "summaries.yaml", "      The catheters are removed.", "    The catheters are removed.")
    message = problems(menus_copy)
    assert re.search(rf"summaries\.yaml:\d+: \(file\): not valid YAML: .* from line {line}\): "
                     rf"check the indentation of lines {line} to \d+", message), message


def test_gap_in_numbering_is_reported(menus_copy):
    edit(menus_copy / "menus.yaml", '      "4":\n        say: {en: For who', '      "5":\n        say: {en: For who')
    assert "without gaps" in problems(menus_copy)


def test_unquoted_star_gets_a_helpful_message(menus_copy):
    edit(menus_copy / "menus.yaml", '      "*":\n        say: {en: To go back to the topics, es: Para regresar a los temas}\n        goes_to: topics\n        hints: {en: [topics], es: [temas]}\n      "0":\n        say: {en: To speak',
         '      *:\n        say: {en: To go back to the topics, es: Para regresar a los temas}\n        goes_to: topics\n        hints: {en: [topics], es: [temas]}\n      "0":\n        say: {en: To speak')
    assert 'must be written in quotes' in problems(menus_copy)


def test_invalid_scripts_stop_start_up(config, menus_copy):
    edit(menus_copy / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    config["MENUS_DIR"] = menus_copy
    with pytest.raises(ScriptError, match="recovry"):
        create_app(config)
