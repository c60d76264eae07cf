"""The staff commands, on script files: a copy of the shipped ones (tests/fixtures/menus) and broken ones
in tests/fixtures/scripts. Only test_check_passes_the_shipped_scripts reads ivr/menus/."""
import logging
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from twilio.request_validator import RequestValidator

import ivr
from ivr import checks, create_app
from ivr.diagram import END_MARK, START_MARK, mermaid
from ivr.menus import DEFAULT_MENUS_DIR, load_script
from ivr.calllog import call_log
from ivr.simulator import SIMULATED_CALL, PhoneLine, SimulationError
from ivr.staff import check, diagram, simulate

ROOT = Path(__file__).parent.parent
FIXTURES = Path("tests/fixtures/scripts")
MENUS = Path("tests/fixtures/menus")
# Clinic time for --at (tests/fixtures/menus/clinic.yaml): a Monday morning, and a Saturday evening.
OPEN = "2026-11-02 10:00"
CLOSED = "2026-11-28 20:00"


@pytest.fixture(autouse=True)
def at_the_project_root(monkeypatch):
    # Paths are printed as staff type them: relative to the folder they are in.
    monkeypatch.chdir(ROOT)
    # check's holiday warning depends on the date: the fixtures list holidays for 2026 and 2027.
    monkeypatch.setattr(checks, "utc_now", lambda: datetime(2026, 11, 2, 16, tzinfo=UTC))
    for name in ("TWILIO_AUTH_TOKEN", "IVR_DEV_INSECURE", "CLINIC_PHONE_NUMBER", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def run(command, *args, input=None):
    return CliRunner().invoke(command, [str(a) for a in args], input=input)


def run_on_fixture(command, *args, input=None):
    """A staff command on the copy of the shipped scripts."""
    return run(command, "--menus", MENUS, *args, input=input)


# -- check -------------------------------------------------------------------------


def test_check_passes_the_shipped_scripts():
    result = run(check)
    assert result.exit_code == 0, result.output
    assert "ivr/menus: 0 errors," in result.output
    assert "The line can speak these scripts." in result.output


def test_check_passes_a_valid_script_without_a_word():
    result = run(check, "--menus", FIXTURES / "valid")
    assert result.exit_code == 0
    assert result.output == "tests/fixtures/scripts/valid: 0 errors, 0 warnings. The line can speak these scripts.\n"


@pytest.mark.parametrize("fixture,expected", [
    ("not_yaml", ['not_yaml/menus.yaml:74: (file): not valid YAML: expected alphabetic or numeric character, '
                  "but found ':' (a \"*\" key must be written in quotes: \"*\")"]),
    ("duplicate_digit", ['duplicate_digit/menus.yaml:67: menus.topics: option "1" is written twice; '
                         "only one can count"]),
    ("missing_spanish", ["missing_spanish/menus.yaml:59: menus.topics: unknown key 'intor' (check the spelling)",
                         "missing_spanish/summaries.yaml:6: summaries.risks: 'es' is missing"]),
    ("broken_links", ['broken_links/menus.yaml:33: press: "{option}, oprima." must contain {option} and {key}',
                      "broken_links/menus.yaml:69: menus.topics: option 2 goes to 'risk', which does not exist "
                      "(choose one of: clinic, recovery, risks, topics, voicemail)"]),
    ("unreachable", ["unreachable/menus.yaml:70: menus.topics: option 2 has no Spanish words a caller can say "
                     "(add some under hints: es:)",
                     "unreachable/summaries.yaml:5: summaries.candidates: no menu option goes to 'candidates', "
                     "so callers never hear it (add an option with goes_to: candidates, or delete this summary)"]),
])
def test_check_prints_each_error_at_its_file_and_line_and_exits_1(fixture, expected):
    result = run(check, "--menus", FIXTURES / fixture)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:-1] == [f"tests/fixtures/scripts/{line}" for line in expected]
    assert lines[-1].startswith(f"tests/fixtures/scripts/{fixture}: {len(expected)} error")
    assert "Callers keep hearing the last good version, even after a restart" in lines[-1]


def test_check_warnings_do_not_fail():
    result = run(check, "--menus", FIXTURES / "warnings")
    assert result.exit_code == 0, result.output
    out = result.output.replace("tests/fixtures/scripts/warnings/", "")
    for warning in [
        "menus.yaml:18: prompts.voicemail: warning: never heard: no menu option goes to voicemail",
        "menus.yaml:45: language_menu: warning: says to press 3, but this line's key is 2",
        "menus.yaml:57: menus.topics: warning: a first-time caller in Spanish waits 24.7 s for the first word of "
        "'recovery'; the budget is 15 s: shorten the notice, the emergency line or the topic menu's lines",
        'menus.yaml:66: menus.topics: warning: "recovery" is a hint for options 1, 2 in English: '
        "a caller who says it gets neither",
        "summaries.yaml:2: summaries.recovery: warning: about 102.7 s in English (216 words); a summary should "
        "take at most 90 s: shorten the text",
        "summaries.yaml:7: summaries.risks: warning: English tells callers to press 1 but Spanish says 2",
    ]:
        assert warning in out
    assert out.splitlines()[-1] == "tests/fixtures/scripts/warnings: 0 errors, 15 warnings. The line can speak these scripts."


@pytest.mark.parametrize("today,warned", [
    (datetime(2026, 11, 2, 16, tzinfo=UTC), False),
    (datetime(2027, 10, 31, 16, tzinfo=UTC), False),  # the last day is 61 days away
    (datetime(2027, 11, 1, 16, tzinfo=UTC), True),  # 60 days: time to add next year's
    (datetime(2028, 1, 1, 7, tzinfo=UTC), True),  # the list has run out
])
def test_check_warns_when_the_holidays_run_out(monkeypatch, today, warned):
    monkeypatch.setattr(checks, "utc_now", lambda: today)
    result = run_on_fixture(check)
    assert result.exit_code == 0, result.output
    warning = ("tests/fixtures/menus/clinic.yaml:27: clinic_hours: warning: the list of closed days ends on 2027-12-31: "
               "add the clinic's next holidays, or on those days 0 will transfer callers to a closed clinic")
    assert (warning in result.output.splitlines()) is warned, result.output


def test_check_warns_when_no_holiday_is_listed(tmp_path):
    shutil.copytree(MENUS, tmp_path / "menus")
    clinic = tmp_path / "menus" / "clinic.yaml"
    text = clinic.read_text(encoding="utf-8")
    start, end = text.index("  closed_on:\n"), text.index("  # Said when a caller presses 0")
    clinic.write_text(text[:start] + text[end:], encoding="utf-8")
    result = run(check, "--menus", tmp_path / "menus")
    assert "clinic_hours: warning: the list of closed days is empty: add the clinic's next holidays" in result.output
    assert result.exit_code == 0


def test_check_a_folder_without_scripts(tmp_path):
    result = run(check, "--menus", tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path}:1: (folder): no .yaml script files found" in result.output


def flask(*args, input=None):
    """The real `flask` command, as staff run it, without a Twilio token."""
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "IVR_DEV_INSECURE")}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, input=input)


def test_flask_check_works_without_a_token_and_on_scripts_the_app_refuses():
    broken = flask("check", "--menus", "tests/fixtures/scripts/broken_links")
    assert broken.returncode == 1, broken.stderr
    assert "tests/fixtures/scripts/broken_links/menus.yaml:69: menus.topics: option 2 goes to 'risk'" in broken.stdout
    assert "Traceback" not in broken.stderr
    valid = flask("check", "--menus", "tests/fixtures/menus")
    assert valid.returncode == 0, valid.stderr
    assert "tests/fixtures/menus: 0 errors" in valid.stdout


# -- simulate ----------------------------------------------------------------------


def test_simulate_prints_a_whole_call_from_keys(monkeypatch):
    monkeypatch.setenv("CLINIC_PHONE_NUMBER", "+12145550100")
    result = run_on_fixture(simulate, "--at", OPEN, "--keys", "2,1,*,5,0")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "At the clinic it is Monday 2026-11-02 10:00 (America/Chicago): the clinic is open."
    assert lines[2] == "Line [en-US]: Dallas Pain Relief Center."
    assert lines[3] == "Line [en-US]: For English, press 1."
    assert lines[4] == "Line [es-MX]: Para español, oprima 2."
    assert lines[7] == "    keys: 1 2 0"
    said = [line for line in lines if line.startswith(("Caller", "Clinic", "The line"))]
    assert said == ["Caller presses 2.", "Caller presses 1.", "Caller presses *.", "Caller presses 5.",
                    "Caller presses 0.",
                    "The line transfers the call to +12145550100 (simulated: nothing is dialled).",
                    "Clinic: no-answer", "Caller hangs up."]
    # Spanish from the moment the caller chose it, and what each step offered.
    after_choice = lines[lines.index("Caller presses 2.") + 1:]
    assert all("[en-US]" not in line for line in after_choice)
    assert "    keys: 1 2 3 4 6 0 *" in after_choice
    assert "    keys: 1 2 3 4 6 8 9 0 *" in after_choice
    assert "Line [es-MX]: Esa no es una de las opciones." in after_choice
    assert any(line.startswith("Line [es-MX]: Lo sentimos, la clínica no puede") for line in after_choice)


def test_simulate_lang_es_speech_and_silence():
    result = run_on_fixture(simulate, "--lang", "es", "--keys", ",speech: recuperación,speech: regresar")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Caller presses 2 (--lang es)." in out
    assert "Caller stays silent.\nLine [es-MX]: Disculpe, no escuché ninguna opción." in out
    assert 'Caller says "recuperación".\nLine [es-MX]: Esto es lo que puede esperar' in out
    assert 'Caller says "regresar".\nLine [es-MX]: El procedimiento, oprima 1.' in out


def test_simulate_without_a_clinic_number_says_where_the_call_would_go(caplog):
    # A staff member's laptop has no CLINIC_PHONE_NUMBER: key 0 behaves as on the real line, open or
    # closed, and no error is logged about a number the simulation does not need.
    open_ = run_on_fixture(simulate, "--at", OPEN, "--lang", "en", "--keys", "0,answered")
    assert open_.exit_code == 0, open_.output
    assert ("Caller presses 0.\nLine [en-US]: Please hold. I am connecting you to the clinic.\n"
            "The line would transfer the call to the clinic (no CLINIC_PHONE_NUMBER set; simulated: nothing is "
            "dialled).\n") in open_.output
    closed = run_on_fixture(simulate, "--at", CLOSED, "--lang", "en", "--keys", "0")
    assert closed.exit_code == 0, closed.output
    assert "Caller presses 0.\nLine [en-US]: The clinic is closed right now." in closed.output
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_simulate_transfer_outcomes_and_voicemail(monkeypatch):
    monkeypatch.setenv("CLINIC_PHONE_NUMBER", "+12145550100")
    answered = run_on_fixture(simulate, "--at", OPEN, "--lang", "en", "--keys", "0,answered")
    assert answered.output.endswith("Clinic: answered\nThe line hangs up.\n")
    voicemail = run_on_fixture(simulate, "--at", OPEN, "--lang", "es", "--keys", "0,busy,7,message")
    assert "Clinic: busy" in voicemail.output
    assert "Beep. The line records a message (up to 120 s)." in voicemail.output
    assert voicemail.output.endswith("Caller leaves a message.\nLine [es-MX]: Gracias. Su mensaje quedó guardado. "
                                     "La clínica le devolverá la llamada. Hasta luego.\nThe line hangs up.\n")
    nothing = run_on_fixture(simulate, "--at", OPEN, "--lang", "en", "--keys", "0,no-answer,7,nothing")
    assert "Caller says nothing.\nLine [en-US]: We did not receive a message.\nLine [en-US]: For the procedure, press 1." \
        in nothing.output


def test_simulate_after_hours_says_when_the_clinic_opens_and_takes_a_message(monkeypatch):
    monkeypatch.setenv("CLINIC_PHONE_NUMBER", "+12145550100")
    result = run_on_fixture(simulate, "--at", CLOSED, "--lang", "es", "--keys", "0,7,message")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "At the clinic it is Saturday 2026-11-28 20:00 (America/Chicago): the clinic is closed." in out
    assert "transfers" not in out
    assert ("Caller presses 0.\nLine [es-MX]: La clínica está cerrada en este momento. Abrimos el lunes a las 8 "
            "de la mañana. Si tiene una emergencia, cuelgue y marque al 9 1 1.\nLine [es-MX]: Para dejarle un mensaje "
            "a la clínica, oprima 7. Para los temas, oprima asterisco.\n    keys: 1 2 3 4 6 7 0 *\n") in out
    assert "Beep. The line records a message (up to 120 s)." in out
    assert out.endswith("Line [es-MX]: Gracias. Su mensaje quedó guardado. La clínica le devolverá la llamada. "
                        "Hasta luego.\nThe line hangs up.\n")
    assert "[en-US]" not in out.split("Caller presses 2 (--lang es).")[1]


def test_simulate_at_a_holiday_and_back_from_the_closed_menu():
    result = run_on_fixture(simulate, "--at", "2026-11-26 10:00", "--lang", "en", "--keys", "0,*")
    assert "Thursday 2026-11-26 10:00 (America/Chicago): the clinic is closed." in result.output
    assert "Line [en-US]: The clinic is closed right now. We open Monday at 8 a.m." in result.output
    assert "Caller presses *.\nLine [en-US]: For the procedure, press 1." in result.output


def test_simulate_explains_a_badly_written_time():
    result = run_on_fixture(simulate, "--at", "28/11/2026 8pm", "--keys", "1")
    assert result.exit_code == 2
    assert 'like "2026-11-28 20:00", not "28/11/2026 8pm"' in result.output


def test_simulate_without_at_uses_the_lines_clock(monkeypatch):
    # The line's clock (ivr.utc_now), frozen here: a Saturday evening in Dallas.
    monkeypatch.setattr(ivr, "utc_now", lambda: datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    result = run_on_fixture(simulate, "--keys", "")
    assert "At the clinic it is Saturday 2026-11-28 20:00 (America/Chicago): the clinic is closed." in result.output


def test_simulated_calls_stay_out_of_the_call_log(tmp_path):
    database = tmp_path / "calls.sqlite3"
    app = create_app({"TWILIO_AUTH_TOKEN": "t", "DATABASE_URL": f"sqlite:///{database}", "MENUS_DIR": MENUS})
    line = PhoneLine(app)
    turn = line.start()
    line.respond(turn.wait, turn.rest, {"press": "1"})
    with app.app_context():
        assert call_log().rows() == []
    # The same requests without the simulator's mark are a call, and are logged.
    del line.client.environ_base[SIMULATED_CALL]
    line.start()
    with app.app_context():
        assert [row.event for row in call_log().rows()] == ["greeting"]


def test_simulate_interactively():
    typed = "1\n\nspeech: risks\n5\n*\n"
    result = run_on_fixture(simulate, input=typed)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "keys: 1 2 0   (Enter: stay silent" in out
    assert "> Caller presses 1.\nLine [en-US]: General information, not medical advice." in out
    assert "> Caller stays silent.\nLine [en-US]: Sorry, I did not hear a choice." in out
    assert '> Caller says "risks".\nLine [en-US]: Here are the possible risks' in out
    assert "> Caller presses 5.\nLine [en-US]: That is not one of the choices." in out
    assert out.endswith("> Caller hangs up.\n")


def test_simulate_explains_a_typing_mistake_and_waits_for_a_key():
    result = run_on_fixture(simulate, input="12\n1\n")
    assert "'12' is not one key" in result.output
    assert "Caller presses 1." in result.output


def test_simulate_refuses_a_bad_key_in_keys():
    result = run_on_fixture(simulate, "--keys", "2,x")
    assert result.exit_code == 2
    assert "'x' is not one key" in result.output


def test_simulate_stops_on_scripts_with_errors():
    result = run(simulate, "--menus", FIXTURES / "broken_links")
    assert result.exit_code == 1
    assert "option 2 goes to 'risk'" in result.output
    assert "fix them first (make check)" in result.output


def test_simulated_requests_pass_the_real_signature_check():
    app = create_app({"TWILIO_AUTH_TOKEN": "the-real-token", "PUBLIC_BASE_URL": "https://ivr.example.org",
                      "MENUS_DIR": MENUS})
    assert PhoneLine(app).start().keys == ["1", "2", "0"]
    forged = PhoneLine(app)
    forged.validator = RequestValidator("another-token")
    with pytest.raises(SimulationError, match="HTTP 403"):
        forged.start()


def test_the_simulator_only_calls_the_lines_webhooks():
    line = PhoneLine(create_app({"TWILIO_AUTH_TOKEN": "t", "MENUS_DIR": MENUS}))
    for url in ["https://evil.example/voice", "/static/x", "//evil.example/voice", "/nowhere"]:
        with pytest.raises(SimulationError, match="not one of the line's webhooks"):
            line.fetch(url, {})


def test_flask_simulate_runs_without_a_token():
    result = flask("simulate", "--menus", "tests/fixtures/menus", "--lang", "es", "--keys", "3")
    assert result.returncode == 0, result.stderr
    assert "Line [es-MX]: Estos son los posibles riesgos" in result.stdout


# -- diagram -----------------------------------------------------------------------


def test_diagram_prints_the_menu_tree_as_mermaid():
    result = run_on_fixture(diagram)
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("```mermaid\nflowchart TD\n") and out.endswith("```\n")
    assert 'menu_topics -->|"2 · For recovery"| summary_recovery' in out
    assert 'menu_after_summary -->|"* · For the topics"| menu_topics' in out
    assert 'menu_topics -->|"* · back"| language' in out
    assert 'clinic -->|"busy or no answer"| menu_clinic_unavailable' in out
    assert 'clinic -->|"outside opening hours: no transfer"| menu_clinic_closed' in out
    assert 'menu_clinic_closed -->|"7 · To leave a message for the clinic"| voicemail' in out


def structure(block: str) -> str:
    """A diagram without its words: the menus, keys and where each key leads."""
    keys_only = re.sub(r'\|"(\S+) · [^"]*"\|', r"|\1|", block)
    return re.sub(r'"[^"]*"', '""', keys_only)


def test_structure_ignores_the_words():
    before = mermaid(load_script(MENUS))
    after = before.replace("2 · For recovery", "2 · To hear about getting better").replace("Topic menu", "Topics")
    assert structure(after) == structure(before)
    assert structure(before.replace("2 · For recovery", "3 · For recovery")) != structure(before)


def test_the_readme_shows_the_current_menu_tree():
    # Only a change of structure fails this test: staff rewording an option does not (make diagram
    # refreshes the words).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    embedded = readme.split(START_MARK + "\n", 1)[1].split(END_MARK, 1)[0]
    shipped = mermaid(load_script(DEFAULT_MENUS_DIR))
    assert structure(embedded) == structure(shipped), "the menu tree changed: run `make diagram`"


def test_diagram_update_writes_between_the_marks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Menus\n\n{START_MARK}\nold\n{END_MARK}\n\nThe end.\n", encoding="utf-8")
    result = run(diagram, "--update", page, "--menus", FIXTURES / "valid")
    assert result.exit_code == 0 and result.output.endswith("menu diagram updated.\n")
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# Menus\n\n{START_MARK}\n```mermaid\n") and text.endswith(f"```\n{END_MARK}\n\nThe end.\n")
    assert 'menu_topics -->|"2 · For risks"| summary_risks' in text
    again = run(diagram, "--update", page, "--menus", FIXTURES / "valid")
    assert again.output.endswith("the menu diagram is up to date.\n")


def test_diagram_update_needs_the_marks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Menus\n", encoding="utf-8")
    result = run_on_fixture(diagram, "--update", page)
    assert result.exit_code == 1
    assert "no <!-- menu diagram: start --> ... <!-- menu diagram: end --> marks" in result.output


def test_diagram_stops_on_scripts_with_errors():
    result = run(diagram, "--menus", FIXTURES / "duplicate_digit")
    assert result.exit_code == 1
    assert '"1" is written twice' in result.output


def test_the_staff_guide_quotes_real_messages():
    guide = (ROOT / "docs" / "editing-scripts.md").read_text(encoding="utf-8")
    quoted = [line for line in guide.splitlines() if line.startswith("tests/fixtures/scripts/")]
    assert len(quoted) >= 12
    for line in quoted:
        fixture = line.split("/")[3]
        assert line in run(check, "--menus", FIXTURES / fixture).output.splitlines(), line
    shipped = guide.split("For the shipped scripts it prints:\n\n```\n", 1)[1].split("```", 1)[0]
    assert shipped == run_on_fixture(check).output.replace(str(MENUS), "ivr/menus")


def test_flask_simulate_reads_keys_from_a_pipe():
    # printf '1\n2\n*\n' | make simulate: every key, not only the first.
    result = flask("simulate", "--menus", "tests/fixtures/menus", input="1\n2\n*\n")
    assert result.returncode == 0, result.stderr
    said = [line.removeprefix("> ") for line in result.stdout.splitlines() if line.startswith("> ")]
    assert said == ["Caller presses 1.", "Caller presses 2.", "Caller presses *.", "Caller hangs up."]


def test_simulate_plays_the_after_summary_menu_after_a_summary():
    result = run_on_fixture(simulate, "--lang", "en", "--keys", "2")
    lines = result.output.splitlines()
    summary = next(n for n, line in enumerate(lines) if line.startswith("Line [en-US]: Here is what to expect"))
    assert lines[summary + 1] == ("Line [en-US]: To hear this again, press 9. To hear it more slowly, press 8. "
                                  "For the topics, press star. To speak with the clinic, press 0.")
    assert lines[summary + 2] == "    keys: 1 2 3 4 6 8 9 0 *"


# -- start-up ---------------------------------------------------------------------


@pytest.mark.parametrize("number,warning", [
    ("", "CLINIC_PHONE_NUMBER is not set: key 0 cannot reach the clinic"),
    ("+12145550100", "CLINIC_PHONE_NUMBER is the demo number +12145550100: key 0 would transfer callers to a "
                     "number that is not the clinic's"),
    ("+12145550123", None),
])
def test_start_up_warns_about_a_missing_or_demo_clinic_number(caplog, number, warning):
    create_app({"TWILIO_AUTH_TOKEN": "t", "CLINIC_PHONE_NUMBER": number, "MENUS_DIR": MENUS})
    warned = [r.getMessage() for r in caplog.records if "CLINIC_PHONE_NUMBER" in r.getMessage()]
    assert [w for w in warned if w.startswith(warning)] if warning else not warned, warned
    assert all(r.levelname == "WARNING" for r in caplog.records if "CLINIC_PHONE_NUMBER" in r.getMessage())


def test_env_example_leaves_the_clinic_number_blank():
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    assert "CLINIC_PHONE_NUMBER=" in lines
    assert lines[lines.index("CLINIC_PHONE_NUMBER=") - 1].startswith("#")
