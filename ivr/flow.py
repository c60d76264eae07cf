"""Decide what a caller hears next, from where the call is and what the caller did.

Pure functions of the script and the call's position; no Flask here. The position
travels in the webhook URLs, so any worker can serve any step of any call.
"""
from __future__ import annotations

from dataclasses import dataclass

from .script import (AGAIN, BACK_KEY, CLINIC, CLINIC_KEY, KEYPAD, LANGUAGE_MENU, LANGUAGES, VOICEMAIL, Script,
                     normalise)

# A caller gets three chances at a menu (silence or a wrong key), then a polite goodbye.
MAX_TRIES = 3
# Speech results can be arbitrarily long; nothing useful is past this.
MAX_SPEECH_CHARS = 200
VALID_KEYS = set(KEYPAD)
# Menus a caller can reach before choosing a language (0 at the language menu): they are
# said in every language, one after the other.
SPOKEN_IN_EVERY_LANGUAGE = {LANGUAGE_MENU, "clinic_unavailable", "clinic_closed"}
SPOKEN_DIGITS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "zero": "0", "star": "*",
    "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "cero": "0", "asterisco": "*",
}


@dataclass(frozen=True)
class Ask:
    """Say a menu and wait for a key. ``at`` is a menu id, "language", or a summary
    topic (its after-summary menu). ``lead`` is a prompt said first (e.g. "no_input")."""

    at: str
    lang: str | None
    tries: int = 0
    lead: str | None = None


@dataclass(frozen=True)
class Summary:
    topic: str
    lang: str


@dataclass(frozen=True)
class Transfer:
    lang: str | None


@dataclass(frozen=True)
class Voicemail:
    lang: str | None


@dataclass(frozen=True)
class Goodbye:
    lang: str | None
    lead: str | None = None


Step = Ask | Summary | Transfer | Voicemail | Goodbye


def parse_lang(value: str | None) -> str | None:
    return value if value in LANGUAGES else None


def parse_tries(value: str | None) -> int:
    try:
        return min(max(int(value or 0), 0), MAX_TRIES)
    except ValueError:
        return 0


def position(script: Script, at: str | None, lang: str | None) -> tuple[str, str | None]:
    """A valid (at, lang) pair; anything unknown falls back to a menu the caller can use."""
    if at == LANGUAGE_MENU or (lang is None and at not in SPOKEN_IN_EVERY_LANGUAGE):
        return LANGUAGE_MENU, None
    if at in script.summaries or (at and script.has_menu(at) and at != "after_summary"):
        return at, lang
    return "topics", lang


def menu_id(script: Script, at: str) -> str:
    return "after_summary" if at in script.summaries else at


def start() -> Ask:
    """A new call: the greeting, each language's part followed by its language choice."""
    return Ask(LANGUAGE_MENU, None, lead="greeting")


def retry(script: Script, at: str | None, lang: str | None, tries: int, lead: str) -> Step:
    """The caller was silent or chose something that is not an option."""
    at, lang = position(script, at, lang)
    if tries + 1 >= MAX_TRIES:
        return Goodbye(lang, lead)
    return Ask(at, lang, tries + 1, lead)


def choose(script: Script, at: str | None, lang: str | None, tries: int,
           digits: str | None, speech: str | None) -> Step:
    """The caller pressed ``digits`` or said ``speech`` at menu ``at``."""
    where = position(script, at, lang)
    if where != (at, lang):
        # A menu this script does not have (it was edited) or a lost language: a key meant
        # for that menu means nothing in another one, so ask again.
        return Ask(*where)
    digits = (digits or "").strip()
    speech = (speech or "")[:MAX_SPEECH_CHARS]
    if not digits and not normalise(speech):
        return retry(script, at, lang, tries, "no_input")
    key = digits if digits else key_from_speech(script, at, lang, speech)
    step = _follow(script, at, lang, key) if key in VALID_KEYS else None
    return step or retry(script, at, lang, tries, "invalid_choice")


def _follow(script: Script, at: str, lang: str | None, key: str) -> Step | None:
    if at == LANGUAGE_MENU:
        if key == CLINIC_KEY:
            return Transfer(None)
        if key == BACK_KEY:
            return Ask(LANGUAGE_MENU, None)
        option = script.language_menu.get(key)
        return Ask("topics", option.language) if option else None
    menu = script.menu(menu_id(script, at))
    if key == CLINIC_KEY:
        return Transfer(lang)
    if key == BACK_KEY:
        return go_to(script, menu.back_to, lang, at)
    option = menu.options.get(key)
    return go_to(script, option.goes_to, lang, at) if option else None


def go_to(script: Script, target: str, lang: str | None, at: str) -> Step:
    if target == CLINIC:
        return Transfer(lang)
    if target == VOICEMAIL:
        return Voicemail(lang)
    if target == LANGUAGE_MENU or (lang is None and target not in SPOKEN_IN_EVERY_LANGUAGE):
        return Ask(LANGUAGE_MENU, None)
    if target == AGAIN:
        return Summary(at, lang)
    if target in script.summaries:
        return Summary(target, lang)
    return Ask(target, lang)


def speech_hints(script: Script, at: str, lang: str | None) -> dict[str, list[str]]:
    """Words a caller may say at ``at``, by the key they stand for (every language's words
    before a language is chosen)."""
    langs = [lang] if lang else LANGUAGES
    if at == LANGUAGE_MENU:
        hints = {key: list(option.hints) for key, option in script.language_menu.items()}
    else:
        hints = {key: [word for each in langs for word in getattr(option.hints, each)]
                 for key, option in script.menu(menu_id(script, at)).options.items()}
    for key, words in script.speech_keys.items():
        hints.setdefault(key, []).extend(word for each in langs for word in getattr(words, each))
    return hints


def key_from_speech(script: Script, at: str, lang: str | None, speech: str) -> str | None:
    """The key a caller's words stand for: the option with the longest matching words
    ("after the procedure" is recovery, not the procedure), if only one has them."""
    said = f" {normalise(speech)} "
    matched: dict[str, int] = {}  # key -> words in its longest phrase the caller said
    for word, key in SPOKEN_DIGITS.items():
        if f" {word} " in said:
            matched[key] = 1
    for word in said.split():
        if len(word) == 1 and word in VALID_KEYS:
            matched[word] = 1
    for key, phrases in speech_hints(script, at, lang).items():
        for phrase in map(normalise, phrases):
            if f" {phrase} " in said:
                matched[key] = max(matched.get(key, 0), len(phrase.split()))
    longest = [key for key, words in matched.items() if words == max(matched.values())]
    return longest[0] if len(longest) == 1 else None
