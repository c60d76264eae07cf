"""Load and validate the menu scripts (ivr/menus/*.yaml).

Errors stop start-up (and a reload) instead of breaking a call later; warnings are printed by
``flask --app app check`` and never stop the line. The parts: ``script_yaml.py`` reads the
files with their line numbers, ``script.py`` is the model, ``checks.py`` the staff rules.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from .checks import run_checks
from .script import Script
from .script_yaml import Problem, Report, ScriptError, read_files, schema_problems

DEFAULT_MENUS_DIR = Path(__file__).parent / "menus"


def check_scripts(menus_dir: Path | str) -> tuple[Script | None, list[Problem]]:
    """Read, merge and validate every ``*.yaml`` in ``menus_dir``.

    Returns the script (None if it has errors) and every problem, errors and warnings.
    """
    menus_dir = Path(menus_dir)
    files = sorted(menus_dir.glob("*.yaml"))
    if not files:
        return None, [Problem(str(menus_dir), 1, "(folder)", "no .yaml script files found")]
    data, problems = read_files(files)
    if problems:
        return None, problems
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        return None, schema_problems(data, exc, str(files[0]))
    report = Report(data)
    run_checks(report, script)
    errors = any(not p.warning for p in report.problems)
    return (None if errors else script), report.problems


def load_script(menus_dir: Path | str) -> Script:
    """The valid script in ``menus_dir``; raise ScriptError listing the errors (not warnings)."""
    script, problems = check_scripts(menus_dir)
    if script is None:
        raise ScriptError([p for p in problems if not p.warning])
    return script
