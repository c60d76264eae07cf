"""Staff commands: ``flask --app app check | simulate | diagram`` (or ``make check`` ...).

They are Flask CLI plugins (pyproject.toml, ``[project.entry-points."flask.commands"]``), not
app commands: Flask finds plugins without building the app, so they work where the app
cannot start, which is their point: ``check`` on scripts with errors (create_app refuses
them), and all of them on a laptop without TWILIO_AUTH_TOKEN. ``simulate`` builds its own
app with a throwaway token, and signs its requests with it.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from . import create_app
from .diagram import mermaid, replace_block
from .hours import is_open
from .menus import DEFAULT_MENUS_DIR, check_scripts, load_script
from .script import KEYPAD, LANGUAGES
from .script_yaml import Problem, ScriptError, ordered, shown
from .simulator import DIAL_OUTCOMES, RECORD_OUTCOMES, PhoneLine, SimulationError, Turn
from .texts import segment_lines

SIMULATOR_URL = "https://simulator.invalid"
# Where a simulated call is put through when CLINIC_PHONE_NUMBER is not set (a staff member's
# laptop): the line behaves as a configured one, and the transcript says no number is set.
NO_CLINIC_NUMBER = "+15005550001"

menus_option = click.option(
    "--menus", "menus_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_MENUS_DIR,
    show_default="ivr/menus", help="Folder of the .yaml scripts.")


def print_problems(problems: list[Problem]) -> None:
    for problem in ordered(problems):
        click.echo(str(replace(problem, file=shown(problem.file))))


# -- check -------------------------------------------------------------------------


@click.command("check")
@menus_option
def check(menus_dir: Path) -> None:
    """Check the menu scripts. Exit code 1 if a caller would hit an error."""
    script, problems = check_scripts(menus_dir)
    print_problems(problems)
    # Each text message's size as carriers count it (texts.yaml): not a problem, a number to watch.
    for line in segment_lines(script) if script else []:
        click.echo(line)
    errors = sum(not p.warning for p in problems)
    warnings = len(problems) - errors
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if errors:
        click.echo(f"{shown(menus_dir)}: {counts}. Callers keep hearing the last good version, even after "
                   "a restart, until the errors are fixed.")
        sys.exit(1)
    click.echo(f"{shown(menus_dir)}: {counts}. The line can speak these scripts.")


# -- simulate ----------------------------------------------------------------------


def show(turn: Turn, interactive: bool) -> None:
    for verb in turn.heard:
        if verb["verb"] == "say":
            click.echo(f"Line [{verb['language']}]: {verb['text']}")
        else:
            click.echo(f"Line plays: {verb['url']}")
    wait = turn.wait
    if wait is None:
        click.echo("The line hangs up.")
    elif wait["verb"] == "gather":
        how = "   (Enter: stay silent · speech: words · Ctrl-D: hang up)" if interactive else ""
        click.echo(f"    keys: {' '.join(turn.keys)}{how}")
    elif wait["verb"] == "dial":
        if wait["number"] == NO_CLINIC_NUMBER:
            click.echo("The line would transfer the call to the clinic (no CLINIC_PHONE_NUMBER set; "
                       "simulated: nothing is dialled).")
        else:
            click.echo(f"The line transfers the call to {wait['number']} (simulated: nothing is dialled).")
        click.echo(f"    clinic: {' / '.join(DIAL_OUTCOMES)} (default: no-answer)")
    elif wait["verb"] == "record":
        click.echo(f"Beep. The line records a message (up to {wait['max_length']} s).")
        click.echo(f"    caller: {' / '.join(RECORD_OUTCOMES)} (default: nothing)")


class Answers:
    """The caller's side: typed at a prompt, or taken from --keys."""

    def __init__(self, keys: str | None):
        self.scripted = keys.split(",") if keys is not None else None
        # One stream for the whole call: keys piped in (printf '1\n2\n' | ...) are read ahead.
        self.typed = click.get_text_stream("stdin") if keys is None else None

    def next(self, wait: dict) -> str | None:
        """The next answer for ``wait``, or None when the caller hangs up."""
        if self.scripted is None:
            click.echo("> ", nl=False)
            line = self.typed.readline()
            return line.strip() if line else None
        choices = {"dial": DIAL_OUTCOMES, "record": RECORD_OUTCOMES}.get(wait["verb"])
        if choices is not None and (not self.scripted or self.scripted[0] not in choices):
            return ""  # the default outcome; the next key is for the menu after it
        return self.scripted.pop(0).strip() if self.scripted else None


def answer_for(wait: dict, typed: str) -> dict:
    """The webhook answer for what the caller typed; ValueError if it means nothing there."""
    if wait["verb"] == "dial":
        if typed and typed not in DIAL_OUTCOMES:
            raise ValueError(f"the clinic's answer is one of: {', '.join(DIAL_OUTCOMES)}")
        click.echo(f"Clinic: {typed or 'no-answer'}")
        return {"dial": typed or "no-answer"}
    if wait["verb"] == "record":
        if typed and typed not in RECORD_OUTCOMES:
            raise ValueError(f"the caller's answer is one of: {', '.join(RECORD_OUTCOMES)}")
        click.echo("Caller leaves a message." if typed == "message" else "Caller says nothing.")
        return {"record": typed or "nothing"}
    if not typed:
        click.echo("Caller stays silent.")
        return {"silence": True}
    if typed.startswith("speech:"):
        words = typed.removeprefix("speech:").strip()
        click.echo(f'Caller says "{words}".')
        return {"say": words}
    if len(typed) == 1 and typed in KEYPAD:
        click.echo(f"Caller presses {typed}.")
        return {"press": typed}
    raise ValueError(f"'{typed}' is not one key; type one of {' '.join(KEYPAD)}, "
                     "an empty line for silence, or speech: words")


def _clinic_time(_context, _param, value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M") if value else None
    except ValueError:
        raise click.BadParameter(f'write the time as year-month-day hours:minutes (24-hour clock), '
                                 f'like "2026-11-28 20:00", not "{value}"') from None


@click.command("simulate")
@click.option("--lang", type=click.Choice(LANGUAGES), help="Choose this language at the language menu.")
@click.option("--keys", help="What the caller does, comma-separated, and print the whole call: a key, "
              '"speech: words", nothing for silence (2,,1); at a transfer answered, no-answer, busy or '
              "failed; at a voicemail message or nothing.")
@click.option("--say", "question", metavar='"WORDS"',
              help="With --lang: ask this at the topic menu, as a caller would, and print the answer; then "
              "--keys, if given.")
@click.option("--at", "clinic_time", callback=_clinic_time, metavar='"YYYY-MM-DD HH:MM"',
              help="Call as if it were this time at the clinic, e.g. after hours. Default: now.")
@menus_option
def simulate(lang: str | None, keys: str | None, question: str | None, clinic_time: datetime | None,
             menus_dir: Path) -> None:
    """Call the line in the terminal: hear what a caller hears, press keys, ask a question."""
    if question is not None and not lang:
        raise click.BadParameter("a question is asked after choosing a language: add --lang en or --lang es",
                                 param_hint="--say")
    try:
        # Simulated calls stay out of the call log, so its caller-number key is never used.
        app = create_app({"TWILIO_AUTH_TOKEN": secrets.token_hex(16), "PUBLIC_BASE_URL": SIMULATOR_URL,
                          "MENUS_DIR": menus_dir, "CALLER_HASH_KEY": secrets.token_hex(16), "SERVES_CALLS": False,
                          "CLINIC_PHONE_NUMBER": os.environ.get("CLINIC_PHONE_NUMBER") or NO_CLINIC_NUMBER})
    except ScriptError as error:
        print_problems(error.problems)
        click.echo("The scripts have errors, so the line would not start: fix them first (make check).")
        sys.exit(1)
    hours = app.extensions["ivr.scripts"].get(None)[1].clinic_hours
    if clinic_time is not None:
        frozen = clinic_time.replace(tzinfo=hours.zone)
        app.config["CLOCK"] = lambda: frozen
    now = app.config["CLOCK"]().astimezone(hours.zone)
    line, answers = PhoneLine(app), Answers(keys)
    if question is not None and keys is None:
        answers.scripted = []  # the call is printed whole, and ends after the answer
    click.echo("Calling the line (simulated: real webhooks, nothing leaves this computer).")
    click.echo(f"At the clinic it is {now:%A %Y-%m-%d %H:%M} ({hours.timezone}): "
               f"the clinic is {'open' if is_open(hours, now) else 'closed'}.")
    try:
        turn = line.start()
        show(turn, answers.scripted is None)
        if lang:
            key = line.language_key(lang)
            click.echo(f"Caller presses {key} (--lang {lang}).")
            turn = line.respond(turn.wait, turn.rest, {"press": key})
            show(turn, answers.scripted is None)
        if question is not None and turn.wait is not None:
            click.echo(f'Caller says "{question}" (--say).')
            turn = line.respond(turn.wait, turn.rest, {"say": question})
            show(turn, answers.scripted is None)
        while turn.wait is not None:
            typed = answers.next(turn.wait)
            if typed is None:
                click.echo("Caller hangs up.")
                return
            try:
                answer = answer_for(turn.wait, typed)
            except ValueError as error:
                if answers.scripted is not None:
                    raise click.BadParameter(str(error), param_hint="--keys") from None
                click.echo(f"    {error}")
                continue
            turn = line.respond(turn.wait, turn.rest, answer)
            show(turn, answers.scripted is None)
    except SimulationError as error:
        click.echo(f"The call broke: {error}")
        sys.exit(1)


# -- diagram -----------------------------------------------------------------------


@click.command("diagram")
@click.option("--update", "markdown_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Write the diagram into this Markdown file, between its menu-diagram marks.")
@menus_option
def diagram(markdown_file: Path | None, menus_dir: Path) -> None:
    """Print the menu tree as a Mermaid flowchart (Markdown)."""
    try:
        block = mermaid(load_script(menus_dir))
    except ScriptError as error:
        print_problems(error.problems)
        click.echo("The scripts have errors: fix them first (make check).")
        sys.exit(1)
    if markdown_file is None:
        click.echo(block, nl=False)
        return
    old = markdown_file.read_text(encoding="utf-8")
    try:
        new = replace_block(old, block)
    except ValueError as error:
        raise click.ClickException(f"{shown(markdown_file)}: {error}") from None
    if new == old:
        click.echo(f"{shown(markdown_file)}: the menu diagram is up to date.")
        return
    markdown_file.write_text(new, encoding="utf-8")
    click.echo(f"{shown(markdown_file)}: menu diagram updated.")
