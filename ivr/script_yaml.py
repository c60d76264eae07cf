"""Read the script files with the file and line of every key, and report problems there.

Staff edit these files, so every problem is reported as ``file:line: prompt: message``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from pydantic import ValidationError


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


def ordered(problems: list[Problem]) -> list[Problem]:
    """Errors before warnings, by file and line; at one place, in the order found, which puts a
    cause (a text in the wrong language) before what follows from it."""
    return sorted(problems, key=lambda p: (p.warning, shown(p.file), p.line))


class ScriptError(Exception):
    """The scripts are not valid; ``problems`` (errors only) says where and why, the first first."""

    def __init__(self, problems: list[Problem]):
        self.problems = ordered(problems)
        super().__init__("\n".join(str(p) for p in problems))

    def for_staff(self) -> str:
        """The problems, with paths as staff type them."""
        return "\n".join(str(replace(p, file=shown(p.file))) for p in self.problems)


def shown(path: str | Path) -> str:
    """A path as staff would type it: relative to the current folder when inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


class _Located(dict):
    """A YAML mapping that remembers its file and the line of each key."""

    file: str
    line: int
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    pass


# Unquoted words stay words: "No", "Yes", "On" or "1.5" are what a caller hears, not YAML's
# true/false or numbers (the schema turns text into a number where it wants one).
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


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


def _construct_text(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    text = loader.construct_scalar(node)
    if node.style is None:  # unquoted, on one line: YAML ends it at " #", the start of a note
        end = node.end_mark
        rest = end.buffer[end.pointer:end.buffer.find("\n", end.pointer)].strip()
        if rest.startswith("#"):
            loader.cut.append((end.line + 1, tuple(loader.path), text, rest))
    elif node.style in ("|", ">"):  # a block text (en: >-): every line is said, a "# ..." line too
        lines = node.start_mark.buffer[node.start_mark.pointer:node.end_mark.pointer].split("\n")
        for offset, line in enumerate(lines[1:], start=1):
            if line.strip().startswith("#"):
                loader.notes.append((node.start_mark.line + 1 + offset, node.start_mark.line + 1, tuple(loader.path),
                                     line.strip()))
    return text


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_text)
# Dates (clinic closures) stay text: the schema checks them, so 2026-02-30 gets a file:line message.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _prompt_name(loc: tuple) -> str:
    """A staff-readable name for a place in the scripts, e.g. "menus.topics"."""
    parts = [str(p) for p in loc]
    depth = 2 if parts and parts[0] in ("menus", "prompts", "summaries", "questions") else 1
    if parts[:2] == ["questions", "entries"]:
        depth = 3  # "questions.entries.driving"
    return ".".join(parts[:depth]) or "(file)"


def _duplicate(loc: tuple) -> str:
    """What a key written twice is, for staff: 'option "1"' in a menu, '"en"' elsewhere."""
    what = "option" if len(loc) > 1 and loc[-2] in ("options", "language_menu") else ""
    return f'{what} "{loc[-1]}"'.strip()


# A quote that opens a text ("...) after "key: ", "- ", "{" or ",", and the quotes that close it.
_OPENING_QUOTE = re.compile(r"""(?:^\s*-\s+|:\s+|[{\[,]\s*)(["'])""")
_SIMPLE_KEY = re.compile(r"\s*[\w-]+")


def _unclosed_quote(line: str) -> str | None:
    """The quote a text on this line starts with, when the line does not close it."""
    if line.lstrip().startswith("#"):
        return None
    opening = _OPENING_QUOTE.search(line)
    if not opening:
        return None
    quote, rest = opening.group(1), line[opening.end():]
    if quote == '"':
        return quote if rest.replace('\\"', "").count('"') % 2 == 0 else None
    return quote if rest.replace("''", "").count("'") % 2 == 0 else None


# Quotes as Word and e-mail programs write them: YAML takes them for letters.
_CURLY_QUOTE = re.compile(r"""(?:^\s*-\s+|:\s+|[{\[,]\s*)[“”‘’„«]""")
_LANGUAGE_KEY = re.compile(r"(\s*)(en|es):(?:\s|$)")


def _misaligned_language(lines: list[str], upto: int) -> tuple[int, str, int] | None:
    """The last es: at or before line ``upto`` that starts left of the en: of its text: (its line,
    the language, the spaces it needs)."""
    keys = [(n, m.group(2), len(m.group(1))) for n, text in enumerate(lines[:upto], start=1)
            if (m := _LANGUAGE_KEY.match(text))]
    misaligned = None
    for (en, first_lang, spaces), (n, lang, indent) in zip(keys, keys[1:]):
        # Each text is en: then es:; a new text starts with en:, which may start further left. The en:
        # is where it belongs when it starts two spaces right of the name above it.
        if (first_lang, lang) == ("en", "es") and indent < spaces and _indent_above(lines, en, spaces) == spaces - 2:
            misaligned = n, lang, spaces
    return misaligned


def _indent_above(lines: list[str], line: int, spaces: int) -> int | None:
    """The spaces of the nearest line above ``line`` (no note) that starts left of ``spaces``."""
    for text in reversed(lines[:line - 1]):
        indent = len(text) - len(text.lstrip())
        if text.strip() and not text.lstrip().startswith("#") and indent < spaces:
            return indent
    return None


def _misplaced_language_message(lang: str, spaces: int) -> str:
    return (f"this {lang}: starts with fewer spaces than the en: above it, so it is not read as the Spanish of the "
            f"same text: start it with {spaces} spaces, like that en:")


def _yaml_problem(path: Path, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    """PyYAML's complaint as the mistake a staff member made, where they made it, and the fix."""
    lines = text.splitlines()
    problem, context = exc.problem_mark, exc.context_mark
    mark = problem or context
    line = mark.line + 1 if mark else 1
    # The parser often notices a mistake lines after it: the context line is where it began, when
    # it names a line ("scanning a simple key"), not a whole section ("parsing a block mapping").
    first = began = line
    if context is not None and problem is not None and context.line < problem.line:
        began = context.line + 1
        first = began if "block mapping" not in str(exc.context) else line - 1
    source = lines[line - 1] if 0 < line <= len(lines) else ""

    def found(at: int, message: str) -> Problem:
        return Problem(str(path), at, "(file)", message)

    if "'\\t'" in str(exc.problem):
        return found(line, "this line has a tab: indent with spaces only (set your editor to put spaces "
                           "for the Tab key)")
    if "alias" in str(exc):
        return found(line, f'not valid YAML: {exc.problem} (a "*" key must be written in quotes: "*")')
    curly = next((n for n in range(began, line + 1) if n <= len(lines) and _CURLY_QUOTE.search(lines[n - 1])), None)
    if curly:
        return found(curly, "this text is in curly quotes (“ ”), as Word or an e-mail writes them, which YAML does not "
                            'take for quotes: type the two quotes again here, as straight double quotes ("), like '
                            'en: "Note: the clinic is closed."')
    quoted = next((n for n in range(began, line + 1) if n <= len(lines) and _unclosed_quote(lines[n - 1])), None)
    if quoted and _unclosed_quote(lines[quoted - 1]) == "'":
        return found(quoted, "this text starts with a single quote ('), and the apostrophe in it (like That's) ends "
                             'it there: put the whole text in double quotes instead, like en: "That\'s not one of '
                             'the choices."')
    if quoted:
        return found(quoted, 'this text starts with a quote (") but the line does not close it: add the closing '
                             'quote at the end of the text')
    if exc.problem == "mapping values are not allowed here" or "but got ':'" in str(exc.problem):
        before = source[:mark.column]
        previous = lines[line - 2] if line > 1 else ""
        indented_key = _SIMPLE_KEY.fullmatch(before) and len(before) - len(before.lstrip()) > \
            len(previous) - len(previous.lstrip())
        if not indented_key:
            return found(line, "this text has a colon and a space (': '), which YAML reads as the start of a new "
                               'name: put the whole text in double quotes, like en: "Note: the clinic is closed."')
    if "flow mapping" in str(exc.context) and first != line:
        return found(first, "the { on this line is not closed by a } on the same line, or a text in it has a "
                            'colon or a quote: put such a text in double quotes, like say: {en: "For recovery, '
                            'press 2", es: ...}')
    misaligned = _misaligned_language(lines, line)
    if misaligned:
        return found(misaligned[0], _misplaced_language_message(*misaligned[1:]))
    note = next((n for n in range(max(first - 1, 1), line + 1) if lines[n - 1].lstrip().startswith("#")), None)
    if note:
        return found(note, f'"{lines[note - 1].strip()[:50]}" is a note for staff inside a text, which ends the text '
                           "there: move the note above the en: or es: line of that text, or delete it")
    span = f"lines {first} to {line}" if first != line else "this line and the one above"
    return found(first, f"the spaces at the start of {span} do not line up: the lines of one text start with "
                        "the same spaces, two more than the en: or es: above them, and en: and es: start with "
                        "the same spaces as each other")


def _value_at(data: dict, loc: tuple) -> object:
    """What the YAML has at the path ``loc``, or None."""
    node = data
    for part in loc:
        if not isinstance(node, dict) or str(part) not in node:
            return None
        node = node[str(part)]
    return node


def _text_split_by_comma(parent: object, key: str) -> bool:
    """{en: For recovery, press 2, es: ...} reads "press 2" as a name without a value."""
    if not isinstance(parent, dict) or parent.get(key) is not None or not ({"en", "es"} & set(parent)):
        return False
    keys = list(parent)
    return keys.index(key) > 0 and isinstance(parent[keys[keys.index(key) - 1]], str)


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


def _utf8_text(path: Path) -> str | Problem:
    """The file's text, or where it is not UTF-8 (Windows editors' "ANSI" saves "ñ" as one byte)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark (Notepad's "UTF-8 with BOM") is fine
    except UnicodeDecodeError as exc:
        line_start, line_end = raw.rfind(b"\n", 0, exc.start) + 1, raw.find(b"\n", exc.start)
        words = raw[line_start:line_end if line_end >= 0 else None].decode("utf-8", "replace").split()
        unreadable = next((word for word in words if "\ufffd" in word), "")
        return Problem(str(path), raw.count(b"\n", 0, exc.start) + 1, "(file)",
                       f'this file is not saved as UTF-8 (here "{unreadable}" is unreadable): save it as UTF-8 '
                       "(in Notepad: File, Save as, Encoding: UTF-8) and run make check again")


def _reader_problem(path: Path, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """PyYAML refuses invisible control characters (often pasted from another program)."""
    return Problem(str(path), text.count("\n", 0, exc.position) + 1, "(file)",
                   f"this line has an invisible control character (U+{exc.character:04X}), often pasted from "
                   "another program: type the line again, without pasting, and run make check again")


def _cut_problem(path: Path, line: int, loc: tuple, text: str, rest: str) -> Problem:
    return Problem(str(path), line, _prompt_name(loc),
                   f"the text stops before \"{rest[:40]}\": after a space, # starts a note that is never said. "
                   f"If the # is part of the words, put the whole text in double quotes: \"{text} {rest}\"; "
                   "if it is a note for staff, move it to a line of its own above this one")


def _note_problem(path: Path, line: int, key_line: int, loc: tuple, note: str) -> Problem:
    key = loc[-1] if loc else "en"
    return Problem(str(path), line, _prompt_name(loc),
                   f'"{note[:50]}" is a note for staff, but it is inside the text, so callers hear it: move it '
                   f'above the "{key}:" line (line {key_line}), where a line starting with # is never said, '
                   "or delete it")


def read_files(files: list[Path]) -> tuple[dict, list[Problem]]:
    """Merge the top-level sections of every file, reporting YAML errors and duplicates."""
    merged, problems = _Located(), []
    merged.file, merged.line, merged.key_lines = str(files[0]) if files else "ivr/menus", 1, {}
    for path in files:
        text = _utf8_text(path)
        if isinstance(text, Problem):
            problems.append(text)
            continue
        try:
            loader = _LineLoader(text)
        except yaml.reader.ReaderError as exc:
            problems.append(_reader_problem(path, text, exc))
            continue
        loader.name = str(path)
        loader.duplicates, loader.path, loader.cut, loader.notes = [], [], [], []
        try:
            data = loader.get_single_data() or _Located()
        except yaml.MarkedYAMLError as exc:
            problems.append(_yaml_problem(path, text, exc))
            continue
        finally:
            loader.dispose()
        problems += [Problem(str(path), line, _prompt_name(loc),
                             f"{_duplicate(loc)} is written twice; only one can count")
                     for line, loc in loader.duplicates]
        problems += [_cut_problem(path, *cut) for cut in loader.cut]
        problems += [_note_problem(path, *note) for note in loader.notes]
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


def _misplaced_language(file: str, line: int) -> Problem | None:
    """An es: out-dented under a text, read as a name of its own: where it is and what to do."""
    try:
        lines = Path(file).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    misaligned = _misaligned_language(lines, line)
    if misaligned is None or misaligned[0] != line:
        return None
    return Problem(file, line, "(file)", _misplaced_language_message(*misaligned[1:]))


def schema_problems(data: dict, error: ValidationError, default_file: str) -> list[Problem]:
    problems, misplaced = [], []
    errors = error.errors()
    for err in errors:
        loc = err["loc"]
        if str(loc[-1]) in ("en", "es") and err["type"] not in ("missing", "string_type", "string_too_short"):
            found = _misplaced_language(*_locate(data, loc, default_file))
            if found:
                misplaced.append((loc, found))
    for err in errors:
        loc = err["loc"]
        file, line = _locate(data, loc, default_file)
        where = ".".join(str(p) for p in loc if p != "[key]")
        parent = _value_at(data, loc[:-1])
        moved = next((found for place, found in misplaced if place == loc), None)
        if moved:
            problems.append(moved)
            continue
        if err["type"] == "missing" and any(loc[-1] == place[-1] and loc[:-2] == place[:-1] for place, _ in misplaced):
            continue  # the text's es: is there, out-dented (reported above)
        if err["type"] == "missing":
            message = f"'{loc[-1]}' is missing"
        elif err["type"] == "extra_forbidden" and _text_split_by_comma(parent, loc[-1]):
            keys = list(parent)
            before = keys[keys.index(loc[-1]) - 1]
            message = (f"'{loc[-1]}' looks like the end of the text before it: inside {{ }}, a comma ends a text. "
                       f'Put the whole text in double quotes: {before}: "{parent[before]}, {loc[-1]}"')
        elif err["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}' (check the spelling)"
        elif err["type"] in ("string_type", "string_too_short") and err["input"] in (None, ""):
            name = {"en": "English", "es": "Spanish"}.get(str(loc[-1]))
            message = (f"the {name} text ({loc[-1]}:) is empty: write what the line should say" if name
                       else f"{where} is empty: write the words")
        elif err["type"] == "value_error":
            message = f"{where}: {err['ctx']['error']}"
        else:
            message = f"{where}: {err['msg']}"
        problems.append(Problem(file, line, _prompt_name(loc), message))
    return problems


# How far below its en: or es: a text's words are looked for.
_TEXT_LINES = 60


def _line_of_words(file: str, line: int, words: str) -> int:
    """The line, at or below ``line``, where ``words`` start (their first three words), else ``line``."""
    start = " ".join(words.split()[:3])
    try:
        lines = Path(file).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return line
    for number in range(line, min(line + _TEXT_LINES, len(lines) + 1)):
        if start and start in " ".join(lines[number - 1].split()):
            return number
    return line


class Report:
    """Collects problems, each placed at the file and line of a path in the YAML."""

    def __init__(self, data: dict):
        self.data, self.problems = data, []

    def __call__(self, loc: tuple, message: str, warning: bool = False, quote: str | None = None) -> None:
        """A problem at ``loc``; with ``quote``, at the line where those words are (in a long text)."""
        file, line = _locate(self.data, loc, "ivr/menus")
        if quote:
            line = _line_of_words(file, line, quote)
        self.problems.append(Problem(file, line, _prompt_name(loc), message, warning))

    def where(self, loc: tuple) -> str:
        """``file:line`` of a path in the YAML, for a message that points to a second place."""
        file, line = _locate(self.data, loc, "ivr/menus")
        return f"{Path(file).name}:{line}"
