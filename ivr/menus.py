"""Load and validate the menu scripts (ivr/menus/*.yaml).

Staff edit these files, so every problem is reported as ``file:line: prompt: message``
and stops start-up instead of breaking a call later.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

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


class Script(_Strict):
    """Everything the caller can hear, validated."""

    prompts: Prompts
    press: Text
    star: Text
    language_menu: dict[str, LanguageOption]
    speech_keys: dict[Literal["0", "*"], Hints]
    menus: Menus
    summaries: dict[str, Text] = Field(min_length=1)

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
        where = ".".join(str(p) for p in loc)
        if err["type"] == "missing":
            message = f"'{loc[-1]}' is missing"
        elif err["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}' (check the spelling)"
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
