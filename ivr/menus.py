"""Load and validate the menu scripts (ivr/menus/*.yaml).

Staff edit these files, so every problem is reported as ``file:line: prompt: message``.
Errors stop start-up (and a reload) instead of breaking a call later; warnings (too long,
keys that do not match) are printed by ``flask --app app check`` and never stop the line.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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
# The phone's keys, in the order a menu offers them: 1 to 9, then 0, * and #.
KEYPAD = "1234567890*#"
DEFAULT_MENUS_DIR = Path(__file__).parent / "menus"
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}

# check warns when closed_on lists no day further ahead than this: staff then have two months
# to add next year's holidays before the list runs out.
HOLIDAYS_NOTICE = timedelta(days=60)

# Spoken-length budgets, in seconds: a caller listens once and must remember the choices.
MENU_BUDGET, SUMMARY_BUDGET = 15, 90
# Estimated speaking rate of the line's voices, in words a second, the same in both
# languages: a neural voice reads about 150 words a minute (2.5 a second); the line slows it
# to 90% (views.SPEAKING_RATE) and pauses after each sentence, which comes to about 2.1.
WORDS_PER_SECOND = 2.1

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


def utc_now() -> datetime:
    """The clock of the line and of its checks (tests freeze it)."""
    return datetime.now(UTC)


# -- loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    prompt: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}: {self.prompt}: {kind}{self.message}"


class ScriptError(Exception):
    """The scripts are not valid; ``problems`` (errors only) says where and why."""

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
            loader.duplicates.append((line, (*loader.path, key)))
        # Children are built inside this call, so the path says where a duplicate is.
        loader.path.append(key)
        try:
            mapping[key] = loader.construct_object(value_node, deep=True)
        finally:
            loader.path.pop()
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


def _duplicate(loc: tuple) -> str:
    """What a key written twice is, for staff: 'option "1"' in a menu, '"en"' elsewhere."""
    what = "option" if len(loc) > 1 and loc[-2] in ("options", "language_menu") else ""
    return f'{what} "{loc[-1]}"'.strip()


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's complaint, with where it started to go wrong and what to look at."""
    message = f"not valid YAML: {exc.problem}"
    if "alias" in str(exc):
        return message + ' (a "*" key must be written in quotes: "*")'
    if "'\\t'" in str(exc.problem):
        return message + " (indent with spaces, not tabs)"
    problem, context = exc.problem_mark, exc.context_mark
    # The parser often notices a mistake lines after it: the context line is where it began.
    if context is not None and problem is not None and context.line < problem.line:
        return (message + f" ({exc.context} from line {context.line + 1}): check the indentation "
                f"of lines {context.line + 1} to {problem.line + 1}")
    return message + ": check the indentation of this line and the lines above"


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
        loader.duplicates, loader.path = [], []
        try:
            data = loader.get_single_data() or _Located()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problems.append(Problem(str(path), mark.line + 1 if mark else 1, "(file)", _yaml_message(exc)))
            continue
        finally:
            loader.dispose()
        problems += [Problem(str(path), line, _prompt_name(loc),
                             f"{_duplicate(loc)} is written twice; only one can count")
                     for line, loc in loader.duplicates]
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


class _Report:
    """Collects problems, each placed at the file and line of a path in the YAML."""

    def __init__(self, data: dict):
        self.data, self.problems = data, []

    def __call__(self, loc: tuple, message: str, warning: bool = False) -> None:
        file, line = _locate(self.data, loc, "ivr/menus")
        self.problems.append(Problem(file, line, _prompt_name(loc), message, warning))


def _check_links(report: _Report, script: Script) -> None:
    """Rules a schema cannot say: keys, targets, counts."""
    problem = report
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
    for lang in LANGUAGES:
        template = getattr(script.press, lang)
        if "{option}" not in template or "{key}" not in template:
            problem(("press", lang), f'"{template}" must contain {{option}} and {{key}}')
    for prompt_id in script.prompt_ids():
        for lang in LANGUAGES:
            try:
                script.text(prompt_id, lang)
            except (KeyError, IndexError, ValueError) as exc:
                problem(("press",), f"cannot build {prompt_id} ({lang}): {exc}")


# The words each clinic_hours sentence may use, and the one it must use.
_CLINIC_WORDS = {
    ("closed",): ({"opening"}, "opening"),
    ("opening", "today"): ({"time"}, "time"),
    ("opening", "tomorrow"): ({"time"}, "time"),
    ("opening", "this_week"): ({"time", "day"}, "time"),
    ("opening", "later"): ({"time", "day", "date", "month"}, "time"),
}


def _check_clinic_words(report: _Report, script: Script) -> None:
    """Every {word} in a clinic_hours sentence is one the line can fill in."""
    for path, (known, required) in _CLINIC_WORDS.items():
        text = script.clinic_hours
        for part in path:
            text = getattr(text, part)
        for lang in LANGUAGES:
            used = set(re.findall(r"{(\w*)}", getattr(text, lang)))
            if used - known or required not in used:
                report(("clinic_hours", *path, lang), f"{'.'.join(path)} ({lang}) must say "
                       f"{{{required}}} and may use only {', '.join(f'{{{w}}}' for w in sorted(known))}")


def _check_speech_hints(report: _Report, script: Script) -> None:
    """Every option has words a caller can say instead of pressing, in both languages."""
    for key, option in script.language_menu.items():
        if not option.hints:
            report(("language_menu", key, "hints"), f"option {key} has no words a caller can say (hints)")
    for menu_id in Menus.model_fields:
        for key, option in script.menu(menu_id).options.items():
            for lang in LANGUAGES:
                shared = getattr(script.speech_keys[key], lang) if key in script.speech_keys else []
                if not getattr(option.hints, lang) and not shared:
                    report(("menus", menu_id, "options", key, "hints"),
                           f"option {key} has no {LANGUAGE_NAMES[lang]} words a caller can say "
                           f"(add some under hints: {lang}:)")


def _reached(script: Script) -> set[str]:
    """Every menu, summary and action a caller can reach from the language menu."""
    # The language menu leads to the topics; 0 reaches the clinic, and so the menus for
    # when the clinic does not answer or is closed, from every menu.
    todo, seen = ["topics", CLINIC, "clinic_unavailable", "clinic_closed"], set()
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        if target in script.summaries:
            todo.append("after_summary")
        if script.has_menu(target):
            menu = script.menu(target)
            todo += [option.goes_to for option in menu.options.values()] + [menu.back_to]
    return seen


def _check_reachable(report: _Report, script: Script) -> None:
    reached = _reached(script)
    for topic in script.summaries:
        if topic not in reached:
            report(("summaries", topic), f"no menu option goes to '{topic}', so callers never hear it "
                   f"(add an option with goes_to: {topic}, or delete this summary)")
    for menu_id in Menus.model_fields:
        if menu_id not in reached:
            report(("menus", menu_id), "no caller can reach this menu")
    if VOICEMAIL not in reached:
        for name in ("voicemail", "voicemail_thanks", "voicemail_empty"):
            report(("prompts", name), "never heard: no menu option goes to voicemail", warning=True)


# -- warnings: what a caller would find too long or confusing --------------------

_PRESS_WORDS = {"en": {"press"}, "es": {"oprima", "marque", "presione", "pulse"}}
_KEY_NAMES = {
    "en": {"star": "*", "pound": "#", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
           "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"},
    "es": {"asterisco": "*", "gato": "#", "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4",
           "cinco": "5", "seis": "6", "siete": "7", "ocho": "8", "nueve": "9"},
}
_BETWEEN_PRESS_AND_KEY = {"the", "key", "la", "tecla", "el", "de"}


def mentioned_keys(text: str, lang: str) -> set[str]:
    """Keys a text tells the caller to press, e.g. "press 3" or "oprima la tecla asterisco"."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    words = re.sub(r"[^\w*#]+", " ", "".join(c for c in plain if not unicodedata.combining(c))).split()
    keys = set()
    for i, word in enumerate(words):
        if word not in _PRESS_WORDS[lang]:
            continue
        following = [w for w in words[i + 1:i + 5] if w not in _BETWEEN_PRESS_AND_KEY]
        key = _KEY_NAMES[lang].get(following[0], following[0]) if following else None
        if key in set(KEYPAD):  # not "911", which is dialled, not pressed in a menu
            keys.add(key)
    return keys


def _spoken(keys) -> str:
    """Keys in keypad-menu order: 1 to 9, then 0, * and #."""
    return ", ".join(sorted(keys, key=KEYPAD.index)) or "no key"


def _check_mentioned_keys(report: _Report, script: Script) -> None:
    """Texts that name a key: the same key in both languages, and one that does something there."""

    def check(loc: tuple, text: Text, works: set[str] | None) -> None:
        said = {lang: mentioned_keys(getattr(text, lang), lang) for lang in LANGUAGES}
        if said["en"] != said["es"]:
            report(loc, f"English tells callers to press {_spoken(said['en'])} but Spanish says "
                   f"{_spoken(said['es'])}", warning=True)
        for lang in LANGUAGES:
            for key in sorted(said[lang] - (works if works is not None else said[lang])):
                report(loc + (lang,), f"the {LANGUAGE_NAMES[lang]} text says to press {key}, but {key} does "
                       f"nothing here (keys: {_spoken(works)})", warning=True)

    for name in Prompts.model_fields:
        check(("prompts", name), getattr(script.prompts, name), None)
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        works = set(menu.options) | {CLINIC_KEY, BACK_KEY}
        if menu.intro:
            check(("menus", menu_id, "intro"), menu.intro, works)
        for key, option in menu.options.items():
            check(("menus", menu_id, "options", key, "say"), option.say, works)
    # A summary plays inside the after-summary menu, so its keys are the ones that work.
    after_summary = set(script.menu("after_summary").options) | {CLINIC_KEY, BACK_KEY}
    for topic, text in script.summaries.items():
        check(("summaries", topic), text, after_summary)
    # Each language-menu line is in its own language and names its own key (0 works too).
    for key, option in script.language_menu.items():
        for other in sorted(mentioned_keys(option.say, option.language) - {key, CLINIC_KEY}):
            report(("language_menu", key, "say"), f"says to press {other}, but this line's key is {key}",
                   warning=True)


def spoken_seconds(text: str) -> float:
    """Estimated time to say ``text`` on the line (see WORDS_PER_SECOND)."""
    return len(text.split()) / WORDS_PER_SECOND


def _check_lengths(report: _Report, script: Script) -> None:
    def check(loc: tuple, prompt_id: str, budget: int, kind: str, advice: str) -> None:
        for lang in LANGUAGES:
            text = script.text(prompt_id, lang)
            seconds = spoken_seconds(text)
            if seconds > budget:
                report(loc, f"about {seconds:.1f} s in {LANGUAGE_NAMES[lang]} ({len(text.split())} words); "
                       f"a {kind} should take at most {budget} s: {advice}", warning=True)

    check(("language_menu",), f"menu.{LANGUAGE_MENU}", MENU_BUDGET, "menu", "shorten the lines")
    for menu_id in Menus.model_fields:
        check(("menus", menu_id), f"menu.{menu_id}", MENU_BUDGET, "menu", "shorten the intro or the options")
    for topic in script.summaries:
        check(("summaries", topic), f"summary.{topic}", SUMMARY_BUDGET, "summary", "shorten the text")


def _check_holidays_ahead(report: _Report, script: Script) -> None:
    """Holidays are listed year by year: say so before the list runs out, not after."""
    hours = script.clinic_hours
    today = utc_now().astimezone(hours.zone).date()
    if not any(day > today + HOLIDAYS_NOTICE for day in hours.closed_on):
        last = f"ends on {max(hours.closed_on)}" if hours.closed_on else "is empty"
        report(("clinic_hours", "closed_on"), f"the list of closed days {last}: add the clinic's next "
               "holidays, or on those days 0 will transfer callers to a closed clinic", warning=True)


def _check_ambiguous_hints(report: _Report, script: Script) -> None:
    """A word listed for two options chooses neither (flow.key_from_speech needs one match)."""
    for menu_id in Menus.model_fields:
        for lang in LANGUAGES:
            keys_of: dict[str, set[str]] = {}
            for key, option in script.menu(menu_id).options.items():
                shared = getattr(script.speech_keys[key], lang) if key in script.speech_keys else []
                for word in [*getattr(option.hints, lang), *shared]:
                    keys_of.setdefault(normalise(word), set()).add(key)
            for word, keys in keys_of.items():
                if len(keys) > 1:
                    report(("menus", menu_id, "options"), f'"{word}" is a hint for options {_spoken(keys)} in '
                           f"{LANGUAGE_NAMES[lang]}: a caller who says it gets neither", warning=True)


def check_scripts(menus_dir: Path | str) -> tuple[Script | None, list[Problem]]:
    """Read, merge and validate every ``*.yaml`` in ``menus_dir``.

    Returns the script (None if it has errors) and every problem, errors and warnings.
    """
    menus_dir = Path(menus_dir)
    files = sorted(menus_dir.glob("*.yaml"))
    if not files:
        return None, [Problem(str(menus_dir), 1, "(folder)", "no .yaml script files found")]
    data, problems = _read(files)
    if problems:
        return None, problems
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_problems(data, exc, str(files[0]))
    report = _Report(data)
    _check_links(report, script)
    _check_clinic_words(report, script)
    if report.problems:  # the checks below assume every option leads somewhere
        return None, report.problems
    for check in (_check_speech_hints, _check_reachable, _check_mentioned_keys, _check_lengths,
                  _check_ambiguous_hints, _check_holidays_ahead):
        check(report, script)
    errors = any(not p.warning for p in report.problems)
    return (None if errors else script), report.problems


def load_script(menus_dir: Path | str) -> Script:
    """The valid script in ``menus_dir``; raise ScriptError listing the errors (not warnings)."""
    script, problems = check_scripts(menus_dir)
    if script is None:
        raise ScriptError([p for p in problems if not p.warning])
    return script


def normalise(words: str) -> str:
    """Lower-case words without accents or punctuation, for matching speech to hints."""
    decomposed = unicodedata.normalize("NFKD", words.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())
