"""Load and validate the menu scripts (ivr/menus/*.yaml).

Staff edit these files, so every problem is reported as ``file:line: prompt: message``
and stops start-up instead of breaking a call later.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError,
                      field_validator, model_validator)

LANGUAGES = ("en", "es")
MAX_OPTIONS = 5
# goes_to targets that are actions rather than menus or summaries.
CLINIC, VOICEMAIL, AGAIN = "clinic", "voicemail", "again"
LANGUAGE_MENU = "language"
BACK_KEY, CLINIC_KEY = "*", "0"

SpokenText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """One thing the line says, in both languages."""

    en: SpokenText
    es: SpokenText


class Hints(_Strict):
    en: list[SpokenText]
    es: list[SpokenText]


class Option(_Strict):
    say: Text
    goes_to: SpokenText
    hints: Hints


class Menu(_Strict):
    back_to: SpokenText
    intro: Text | None = None
    options: dict[str, Option]


class LanguageOption(_Strict):
    language: Literal["en", "es"]
    say: SpokenText
    hints: list[SpokenText]


class Prompts(_Strict):
    greeting: Text
    no_input: Text
    invalid_choice: Text
    goodbye: Text
    transfer: Text
    voicemail: Text
    voicemail_thanks: Text
    voicemail_empty: Text
    apology: Text


class Menus(_Strict):
    topics: Menu
    after_summary: Menu
    clinic_unavailable: Menu
    clinic_closed: Menu


# -- clinic hours (ivr/menus/clinic.yaml) ------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOSED = "closed"
_OPENING_HOURS = re.compile(r"(\d{1,2}):(\d\d) *- *(\d{1,2}):(\d\d)")


def _opening_hours(value: object) -> tuple[time, time] | None:
    """ "8:00 - 17:00" as (opens, closes); "closed" as None."""
    if value == CLOSED:
        return None
    match = _OPENING_HOURS.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f'write hours like "8:00 - 17:00" (24-hour clock) or "{CLOSED}", not {value!r}')
    hour_open, minute_open, hour_close, minute_close = (int(n) for n in match.groups())
    try:
        opens, closes = time(hour_open, minute_open), time(hour_close, minute_close)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (24-hour clock, 0:00 to 23:59)") from None
    if opens >= closes:
        raise ValueError(f"{value!r}: the clinic must open before it closes")
    return opens, closes


OpeningHours = Annotated[tuple[time, time] | None, BeforeValidator(_opening_hours)]


class Week(_Strict):
    monday: OpeningHours
    tuesday: OpeningHours
    wednesday: OpeningHours
    thursday: OpeningHours
    friday: OpeningHours
    saturday: OpeningHours
    sunday: OpeningHours

    @model_validator(mode="after")
    def _open_some_day(self) -> "Week":
        if not any(getattr(self, day) for day in WEEKDAYS):
            raise ValueError("the clinic must be open at least one day a week")
        return self


class DayNames(_Strict):
    en: list[SpokenText] = Field(min_length=7, max_length=7)
    es: list[SpokenText] = Field(min_length=7, max_length=7)


class MonthNames(_Strict):
    en: list[SpokenText] = Field(min_length=12, max_length=12)
    es: list[SpokenText] = Field(min_length=12, max_length=12)


class OpeningWords(_Strict):
    """How the next opening is said, by how far away it is."""

    today: Text
    tomorrow: Text
    this_week: Text
    later: Text


class ClinicHours(_Strict):
    """When the clinic answers the phone, and what a caller hears when it does not."""

    timezone: str
    weekly: Week
    closed_on: dict[date, str] = Field(default_factory=dict)
    closed: Text
    opening: OpeningWords
    day_names: DayNames
    month_names: MonthNames

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (Dallas is America/Chicago)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: date) -> tuple[time, time] | None:
        """Opening and closing time on ``day``, or None when the clinic is closed all day."""
        if day in self.closed_on:
            return None
        return getattr(self.weekly, WEEKDAYS[day.weekday()])


class Script(_Strict):
    """Everything the caller can hear, validated."""

    prompts: Prompts
    press: Text
    star: Text
    language_menu: dict[str, LanguageOption]
    speech_keys: dict[Literal["0", "*"], Hints]
    menus: Menus
    summaries: dict[str, Text] = Field(min_length=1)
    clinic_hours: ClinicHours

    # -- what a caller hears -------------------------------------------------
    def menu(self, menu_id: str) -> Menu:
        return getattr(self.menus, menu_id)

    def has_menu(self, menu_id: str) -> bool:
        return menu_id in Menus.model_fields

    def text(self, prompt_id: str, lang: str) -> str:
        """The words of one prompt in one language.

        Prompt ids: a name from ``prompts`` ("greeting"), "menu.<id>" (intro plus every
        option line, or "menu.language"), or "summary.<topic>".
        """
        kind, _, name = prompt_id.partition(".")
        if kind == "menu" and name == LANGUAGE_MENU:
            return " ".join(o.say for o in self.language_menu.values() if o.language == lang)
        if kind == "menu":
            menu = self.menu(name)
            lines = [getattr(menu.intro, lang)] if menu.intro else []
            template = getattr(self.press, lang)
            for key, option in menu.options.items():
                spoken_key = getattr(self.star, lang) if key == BACK_KEY else key
                lines.append(template.format(option=getattr(option.say, lang), key=spoken_key))
            return " ".join(lines)
        if kind == "summary":
            return getattr(self.summaries[name], lang)
        return getattr(getattr(self.prompts, prompt_id), lang)

    def prompt_ids(self) -> list[str]:
        """Every prompt a caller can hear (the audio build records each one)."""
        return (
            list(Prompts.model_fields)
            + [f"menu.{LANGUAGE_MENU}"]
            + [f"menu.{m}" for m in Menus.model_fields]
            + [f"summary.{s}" for s in self.summaries]
        )


# -- loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    prompt: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.prompt}: {self.message}"


class ScriptError(Exception):
    """The scripts are not valid; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Located(dict):
    """A YAML mapping that remembers its file and the line of each key."""

    file: str
    line: int
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    mapping = _Located()
    mapping.file = loader.name
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        # Digits are keys ("1:"); keep them as text so 1 and "1" are the same option.
        key = str(loader.construct_object(key_node, deep=True))
        line = key_node.start_mark.line + 1
        if key in mapping:
            loader.duplicates.append((line, key))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates (clinic closures) stay text: the schema checks them, so 2026-02-30 gets a file:line message.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _prompt_name(loc: tuple) -> str:
    """A staff-readable name for a place in the scripts, e.g. "menus.topics"."""
    parts = [str(p) for p in loc]
    depth = 2 if parts and parts[0] in ("menus", "prompts", "summaries") else 1
    return ".".join(parts[:depth]) or "(file)"


def _locate(data: dict, loc: tuple, default_file: str) -> tuple[str, int]:
    """File and line of the deepest mapping on the path ``loc``."""
    file, line, node = default_file, 1, data
    for part in loc:
        if not isinstance(node, _Located):
            break
        file = node.file
        key = str(part)
        line = node.key_lines.get(key, node.line)
        if key not in node:
            break
        node = node[key]
    return file, line


def _read(files: list[Path]) -> tuple[dict, list[Problem]]:
    """Merge the top-level sections of every file, reporting YAML errors and duplicates."""
    merged, problems = _Located(), []
    merged.file, merged.line, merged.key_lines = str(files[0]) if files else "ivr/menus", 1, {}
    for path in files:
        loader = _LineLoader(path.read_text(encoding="utf-8"))
        loader.name = str(path)
        loader.duplicates = []
        try:
            data = loader.get_single_data() or _Located()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            hint = ' (a "*" key must be written in quotes: "*")' if "alias" in str(exc) else ""
            problems.append(Problem(str(path), mark.line + 1 if mark else 1, "(file)",
                                    f"not valid YAML: {exc.problem}{hint}"))
            continue
        finally:
            loader.dispose()
        problems += [Problem(str(path), line, key, f'"{key}" is written twice in one place')
                     for line, key in loader.duplicates]
        if not isinstance(data, _Located):
            problems.append(Problem(str(path), 1, "(file)", "expected sections like 'prompts:'"))
            continue
        for key, value in data.items():
            if key in merged:
                problems.append(Problem(str(path), data.key_lines[key], key,
                                        f"section is also in {merged.key_lines[key][0]}"))
                continue
            merged[key] = value
            merged.key_lines[key] = (str(path), data.key_lines[key])
    # Top-level lines point into the file each section came from.
    merged.key_lines = {k: v[1] for k, v in merged.key_lines.items()}
    return merged, problems


def _pydantic_problems(data: dict, error: ValidationError, default_file: str) -> list[Problem]:
    problems = []
    for err in error.errors():
        loc = err["loc"]
        file, line = _locate(data, loc, default_file)
        where = ".".join(str(p) for p in loc if p != "[key]")
        if err["type"] == "missing":
            message = f"'{loc[-1]}' is missing"
        elif err["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}' (check the spelling)"
        elif err["type"] == "value_error":
            message = f"{where}: {err['ctx']['error']}"
        else:
            message = f"{where}: {err['msg']}"
        problems.append(Problem(file, line, _prompt_name(loc), message))
    return problems


def _check_links(data: dict, script: Script) -> list[Problem]:
    """Rules a schema cannot say: keys, targets, counts."""
    problems = []

    def problem(loc: tuple, message: str) -> None:
        file, line = _locate(data, loc, "ivr/menus")
        problems.append(Problem(file, line, _prompt_name(loc), message))

    summaries = set(script.summaries)
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        loc = ("menus", menu_id)
        if menu.back_to not in summaries | set(Menus.model_fields) | {LANGUAGE_MENU}:
            problem(loc + ("back_to",), f"back_to '{menu.back_to}' is not a menu")
        digits = sorted(k for k in menu.options if k not in (BACK_KEY, CLINIC_KEY))
        for key in menu.options:
            if not (key.isdigit() and len(key) == 1) and key != BACK_KEY:
                problem(loc + ("options", key), f"option key '{key}' must be one digit or \"*\"")
        if digits and digits != [str(n) for n in range(1, len(digits) + 1)]:
            problem(loc + ("options",), f"options must be numbered 1, 2, 3 ... without gaps, not {', '.join(digits)}")
        if len(menu.options) > MAX_OPTIONS:
            problem(loc + ("options",), f"{len(menu.options)} options; callers can follow at most {MAX_OPTIONS}")
        allowed = summaries | {"topics", CLINIC, VOICEMAIL} | ({AGAIN} if menu_id == "after_summary" else set())
        for key, option in menu.options.items():
            oloc = loc + ("options", key)
            if option.goes_to not in allowed:
                problem(oloc + ("goes_to",), f"option {key} goes to '{option.goes_to}', which does not exist "
                        f"(choose one of: {', '.join(sorted(allowed))})")
            if key == CLINIC_KEY and option.goes_to != CLINIC:
                problem(oloc + ("goes_to",), "key 0 always reaches the clinic (goes_to: clinic)")
            if key == BACK_KEY and option.goes_to != menu.back_to:
                problem(oloc + ("goes_to",), f'key "*" always goes back (goes_to: {menu.back_to})')

    languages = [o.language for o in script.language_menu.values()]
    for key, option in script.language_menu.items():
        if key not in option.say:
            problem(("language_menu", key, "say"), f"the text does not say the key {key}")
    for lang in LANGUAGES:
        if languages.count(lang) != 1:
            problem(("language_menu",), f"needs exactly one option for language '{lang}'")
    for prompt_id in script.prompt_ids():
        for lang in LANGUAGES:
            try:
                script.text(prompt_id, lang)
            except (KeyError, IndexError, ValueError) as exc:
                problem(("press",), f"cannot build {prompt_id} ({lang}): {exc}")
    problems += _check_clinic_words(data, script.clinic_hours)
    return problems


# The words each clinic_hours sentence may use, and the one it must use.
_CLINIC_WORDS = {
    ("closed",): ({"opening"}, "opening"),
    ("opening", "today"): ({"time"}, "time"),
    ("opening", "tomorrow"): ({"time"}, "time"),
    ("opening", "this_week"): ({"time", "day"}, "time"),
    ("opening", "later"): ({"time", "day", "date", "month"}, "time"),
}


def _check_clinic_words(data: dict, hours: ClinicHours) -> list[Problem]:
    """Every {word} in a clinic_hours sentence is one the line can fill in."""
    problems = []
    for path, (known, required) in _CLINIC_WORDS.items():
        text = hours
        for part in path:
            text = getattr(text, part)
        for lang in LANGUAGES:
            loc = ("clinic_hours", *path, lang)
            used = set(re.findall(r"{(\w*)}", getattr(text, lang)))
            if used - known or required not in used:
                file, line = _locate(data, loc, "ivr/menus")
                problems.append(Problem(file, line, "clinic_hours", f"{'.'.join(path)} ({lang}) must say "
                                        f"{{{required}}} and may use only {', '.join(f'{{{w}}}' for w in sorted(known))}"))
    return problems


def load_script(menus_dir: Path | str) -> Script:
    """Read, merge and validate every ``*.yaml`` in ``menus_dir``; raise ScriptError."""
    menus_dir = Path(menus_dir)
    files = sorted(menus_dir.glob("*.yaml"))
    if not files:
        raise ScriptError([Problem(str(menus_dir), 1, "(folder)", "no .yaml script files found")])
    data, problems = _read(files)
    if problems:
        raise ScriptError(problems)
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        raise ScriptError(_pydantic_problems(data, exc, str(files[0]))) from None
    problems = _check_links(data, script)
    if problems:
        raise ScriptError(problems)
    return script


def normalise(words: str) -> str:
    """Lower-case words without accents or punctuation, for matching speech to hints."""
    decomposed = unicodedata.normalize("NFKD", words.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())
