"""check holds texts.yaml (key 5) to its rules: each message keeps key facts from the article, writes
numbers in words, fills in only the clinic's {phone}, and fits in two segments as carriers count them."""
from conftest import FIXTURE_MENUS, edit, script_errors
from ivr.menus import check_scripts, load_script
from ivr.texts import SAMPLE_PHONE, segments


def warnings(menus_dir) -> str:
    _, problems = check_scripts(menus_dir)
    return "\n".join(str(p) for p in problems)


def test_the_fixture_messages_fit_and_say_nothing_about_the_caller():
    texts = load_script(FIXTURE_MENUS).to_your_phone
    for topic in texts.text_messages.topics:
        for lang in ("en", "es"):
            message = texts.message(topic, lang, SAMPLE_PHONE)
            assert segments(message).count <= 2
            assert "{" not in message and "Dallas Pain Relief Center (214) 555-0100" in message


def test_a_spanish_message_too_long_once_an_accent_makes_it_ucs_2(menus_copy):
    line = edit(menus_copy / "texts.yaml", "Cifoplastia, riesgos poco comunes: sangrado, infección, reacción alérgica.",
                "Cifoplastia, riesgos poco comunes: sangrado, infección, reacción alérgica, fuga de cemento.")
    errors = script_errors(menus_copy)
    assert f"texts.yaml:{line - 1}" in errors or f"texts.yaml:{line}" in errors
    assert "3 segments" in errors and "'ó' makes it UCS-2" in errors and "134 characters in UCS-2" in errors


def test_a_message_that_keeps_too_few_key_facts(menus_copy):
    edit(menus_copy / "texts.yaml", "Cifoplastia: sin objetos pesados seis semanas; vigile sangrado o infección.",
         "Cifoplastia: descanse.")
    assert "keeps two to four key facts of recovery from the article; this one has 1" in script_errors(menus_copy)


def test_numbers_in_words_and_nothing_filled_in_but_the_clinics_phone(menus_copy):
    edit(menus_copy / "texts.yaml", "Avoid heavy lifting for six weeks.", "Avoid heavy lifting for 6 weeks, {name}.")
    errors = script_errors(menus_copy)
    assert "write numbers in words" in errors and "remove the words in curly brackets" in errors
    edit(menus_copy / "texts.yaml", 'Dallas Pain Relief Center {phone}, Mon-Fri', "Dallas Pain Relief Center, Mon-Fri")
    assert "write {phone} once where the clinic's number goes" in script_errors(menus_copy)


def test_the_offers_name_key_5_and_the_question_reads_the_number(menus_copy):
    edit(menus_copy / "texts.yaml", "To get this by text message, press 5.", "To get this by text message, press 3.")
    edit(menus_copy / "texts.yaml", "call you back at {number}.", "call you back.")
    errors = script_errors(menus_copy)
    assert "text_offer (en) must tell the caller to press 5" in errors
    assert "write {number} where the line reads the caller's number back" in errors


def test_a_topic_without_a_message_is_a_warning(menus_copy):
    text = (menus_copy / "texts.yaml").read_text(encoding="utf-8")
    start = text.index("      candidates:")
    (menus_copy / "texts.yaml").write_text(text[:start], encoding="utf-8")
    assert "no text message for 'candidates'" in warnings(menus_copy)
    assert load_script(menus_copy).to_your_phone is not None


def test_without_texts_yaml_key_5_is_never_offered(menus_copy):
    (menus_copy / "texts.yaml").unlink()
    assert load_script(menus_copy).to_your_phone is None
