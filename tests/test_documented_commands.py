"""Every staff command line in README.md and docs/editing-scripts.md runs as written: without a
Twilio token, without a warning that does not concern it, with its documented exit code.

The lines are read from the documents, so a command added there is tested here. They run in this
process through Flask's own command line (``flask --app app ...``), as from a fresh clone: no
TWILIO_AUTH_TOKEN, no IVR_DEV_INSECURE. gTTS answers offline with one short MP3 (what gTTS sends
and how a build goes is tests/test_audio.py's), and the scripts are the copy in tests/fixtures/menus.
"""
import logging
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import gtts
import pytest
from click.testing import CliRunner
from flask.cli import cli

import ivr
from conftest import FIXTURE_MENUS
from ivr import checks, staff
from test_faults import fake_mp3

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "editing-scripts.md"]
COMMAND = re.compile(r"^(make [a-z-]+.*?|\.venv/bin/flask --app app .*?)\s*(?:#.*)?$")
# Not staff commands: they start a server or run a test suite.
NOT_STAFF = {"run", "test", "bench", "fuzz", "install", "clean", "browser", "test-postgres", "test-proxy"}
# What each make target runs (Makefile), as flask arguments.
MAKE_TARGETS = {"check": ["check"], "simulate": ["simulate"], "diagram": ["diagram", "--update", "README.md"],
                "audio": ["build-audio"]}
# Exit codes the documents give: audio-status is 1 while recordings are missing.
EXIT_CODES = {"audio-status": 1}


def documented_command_lines() -> list[str]:
    lines = []
    for document in DOCUMENTS:
        in_block = False
        for line in document.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            match = COMMAND.match(line) if in_block else None
            if match and match.group(1) not in lines:
                lines.append(match.group(1))
    return lines


def flask_arguments(line: str) -> list[str] | None:
    """The ``flask --app app`` arguments a documented line runs, or None for a non-staff target."""
    words = shlex.split(line)
    if words[0] == "make":
        target, extra = words[1], [w.split("=", 1) for w in words[2:]]
        if target in NOT_STAFF:
            return None
        return MAKE_TARGETS[target] + [a for name, value in extra if name == "ARGS" for a in shlex.split(value)]
    return words[3:]


def test_the_documents_show_each_staff_command():
    commands = {tuple(args[:1]) for args in map(flask_arguments, documented_command_lines()) if args}
    assert commands >= {("check",), ("simulate",), ("diagram",), ("build-audio",), ("audio-status",), ("report",),
                        ("purge",)}, commands


# The line's clock for these commands, in both of the clinic's states (tests/fixtures/menus/clinic.yaml):
# key 0 transfers while it is open and says when it opens while it is closed.
CLINIC_TIMES = {"open": datetime(2026, 11, 2, 16, 0, tzinfo=UTC),  # Monday 10:00 in Dallas
                "closed": datetime(2026, 11, 29, 2, 0, tzinfo=UTC)}  # Saturday 20:00 in Dallas


def cases() -> list:
    """Each documented line while the clinic is open; a simulated call also while it is closed."""
    return [pytest.param(line, state, id=f"{line} ({state})") for line in documented_command_lines()
            for state in CLINIC_TIMES if state == "open" or "simulate" in line]


@pytest.fixture
def fresh_clone(monkeypatch, tmp_path):
    """The environment of a fresh clone (no token, no dev mode), with its files in tmp_path."""
    for name in ("TWILIO_AUTH_TOKEN", "IVR_DEV_INSECURE", "IVR_PREVIEW", "CLINIC_PHONE_NUMBER", "PUBLIC_BASE_URL",
                 "CALLER_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'calls.sqlite3'}")
    monkeypatch.setenv("AUDIO_DIR", str(tmp_path / "audio"))
    monkeypatch.chdir(ROOT)
    # The app's scripts and the staff commands' default folder: the fixture copy.
    monkeypatch.setattr(ivr, "DEFAULT_MENUS_DIR", FIXTURE_MENUS)
    for command in (staff.check, staff.simulate, staff.diagram):
        option = next(p for p in command.params if p.name == "menus_dir")
        monkeypatch.setattr(option, "default", FIXTURE_MENUS)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    monkeypatch.setattr(gtts.gTTS, "stream", lambda self: iter([fake_mp3()]))
    sys.modules.pop("app", None)  # app.py builds the app when the command line loads it
    yield tmp_path
    sys.modules.pop("app", None)


@pytest.mark.parametrize(("line", "clinic"), cases())
def test_each_documented_command_runs_as_written(fresh_clone, caplog, monkeypatch, line, clinic):
    args = flask_arguments(line)
    if args is None:
        pytest.skip(f"{line}: not a staff command")
    # The line's clock, frozen (check's holiday notice reads it too).
    monkeypatch.setattr(ivr, "utc_now", lambda: CLINIC_TIMES[clinic])
    monkeypatch.setattr(checks, "utc_now", lambda: CLINIC_TIMES[clinic])
    args = [str(fresh_clone / "README.md") if a == "README.md" else a for a in args]
    # Interactive simulate: the caller presses 1, then hangs up.
    result = CliRunner().invoke(cli, ["--app", "app", *args], input="1\n")
    assert result.exit_code == EXIT_CODES.get(args[0], 0), (line, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (line, result.exception)
    assert "Traceback" not in result.output and "TWILIO_AUTH_TOKEN" not in result.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [], (line, warnings)


def test_every_folder_of_the_package_is_declared_with_its_files():
    # Otherwise setuptools warns, at every install, that it "would ignore" the folder
    # (ivr/menus, ivr/templates ...), and a wheel would lack the scripts.
    import tomllib
    from fnmatch import fnmatch

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    include = setuptools["packages"]["find"]["include"]
    data = setuptools["package-data"]
    for folder in [ROOT / "ivr", *(p for p in (ROOT / "ivr").rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        package = ".".join(folder.relative_to(ROOT).parts)
        assert any(fnmatch(package, pattern) for pattern in include), package
        for file in folder.iterdir():
            if file.is_file() and file.suffix != ".py" and file.suffix != ".pyc":
                assert any(fnmatch(file.name, pattern) for pattern in data.get(package, [])), file


def test_the_readme_stays_short():
    # The guide's rule: details go to docs/ (production.md, performance.md, editing-scripts.md).
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 150, f"README.md has {lines} lines: move details to docs/"


# -- what the documents say about the commands and the files ----------------------------

# Files the documents name that a command makes (they are not in a fresh clone).
MADE_BY_COMMANDS = {"audio/manifest.json"}
NAMED_FILE = re.compile(r"\b(?:ivr|docs|tests|deploy|bench|audio)/[\w./-]+\.(?:py|md|yaml|txt|conf|sh|html|json|ini)\b")
WHERE_FILES_ARE_NAMED = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / ".env.example",
                         *sorted((ROOT / "ivr" / "menus").glob("*.yaml")), ROOT / "Makefile", ROOT / "Dockerfile"]


@pytest.mark.parametrize("document", WHERE_FILES_ARE_NAMED, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_files_a_document_names_exist(document):
    named = set(NAMED_FILE.findall(document.read_text(encoding="utf-8"))) - MADE_BY_COMMANDS
    assert [name for name in sorted(named) if not (ROOT / name).exists()] == []


@pytest.mark.parametrize("document", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_flask_commands_are_shown_as_they_run_in_a_fresh_clone(document):
    # `flask` alone is not on a fresh clone's PATH: make install puts it in .venv/bin.
    text = document.read_text(encoding="utf-8")
    assert re.findall(r"(?<!\.venv/bin/)\bflask --app app\b", text) == []


@pytest.mark.parametrize("target,args", [
    ("check", "--menus tests/fixtures/scripts/broken_links"),
    ("simulate", "--menus tests/fixtures/scripts/broken_links --keys 1"),
])
def test_make_ends_a_failing_staff_command_with_its_exit_code_1_and_no_make_error(target, args):
    # The guide says exit code 1; make itself would say 2, and add "make: *** [...] Error 1".
    made = subprocess.run(["make", "--no-print-directory", target, f"ARGS={args}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert made.returncode == 1, made.stdout + made.stderr
    assert "broken_links/menus.yaml:69:" in made.stdout
    assert "make:" not in made.stdout + made.stderr


def test_make_check_passes_on_good_scripts_with_exit_code_0():
    made = subprocess.run(["make", "--no-print-directory", "check", "ARGS=--menus tests/fixtures/menus"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.endswith("tests/fixtures/menus: 0 errors, 0 warnings. The line can speak these scripts.\n")

