"""Decide what a caller hears next, from where the call is and what the caller did.

Pure functions of the script and the call's position; no Flask here. The position
travels in the webhook URLs, so any worker can serve any step of any call.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import asking, offers
from .script import (AGAIN, BACK_KEY, CLINIC, CLINIC_KEY, KEYPAD, LANGUAGE_MENU, LANGUAGES, SLOWER, SWITCH_KEY,
                     VOICEMAIL, Script, normalise)

# A caller gets three chances at a menu (silence or a wrong key); after the third, a person
# (while the clinic answers), else one last offer to leave a message, then a polite goodbye.
MAX_TRIES = 3
# Transfers to the clinic per call (counted in the URL): a busy clinic is not dialled for ever.
MAX_TRANSFERS = 2
# What a first-time caller hears, all in one Gather: the clinic's name, each language's
# choice in its own voice, then the 911 line in each language. (prompt id, language)
OPENING = (("greeting", "en"), (f"menu.{LANGUAGE_MENU}", "en"), (f"menu.{LANGUAGE_MENU}", "es"),
           ("emergency", "en"), ("emergency", "es"))
# Right after the choice, before the topics, in the chosen language: the caller who pressed
# at once still hears that this is not medical advice and the 911 line.
WELCOME = ("notice", "emergency")
# A returning caller, greeted in the language they chose last time; the topic menu follows,
# then the offer to switch language.
RETURNING = ("greeting", "notice", "emergency")
# Speech results can be arbitrarily long; nothing useful is past this.
MAX_SPEECH_CHARS = 200
VALID_KEYS = set(KEYPAD)
# Menus a caller can reach before choosing a language (0 at the language menu): they are
# said in every language, one after the other.
SPOKEN_IN_EVERY_LANGUAGE = {LANGUAGE_MENU, "clinic_unavailable", "clinic_closed"}
# The menu after an answer to a spoken question: another question, the topic keys, * for the
# topics, 0 for the clinic.
ANSWERED = "answered"
SPOKEN_DIGITS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "zero": "0", "star": "*",
    "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "cero": "0", "asterisco": "*",
}


@dataclass(frozen=True)
class Ask:
    """Say a menu and wait for a key. ``at`` is a menu id, "language", or a summary
    topic (its after-summary menu). ``lead`` is said first: a prompt ("no_input"), or
    "greeting" (flow.OPENING), "welcome", "returning" (the parts above)."""

    at: str
    lang: str | None
    tries: int = 0
    lead: str | None = None


@dataclass(frozen=True)
class Summary:
    topic: str
    lang: str
    slow: bool = False


@dataclass(frozen=True)
class Transfer:
    lang: str | None


@dataclass(frozen=True)
class Voicemail:
    lang: str | None


@dataclass(frozen=True)
class Goodbye:
    """The end of the tries: with ``lead`` (why), a person or a last offer first; without,
    thanks and hang up. ``offered``: the menu the caller was silent at offered a message."""

    lang: str | None
    lead: str | None = None
    offered: bool = False


Step = Ask | Summary | Transfer | Voicemail | Goodbye | asking.Answer | asking.Emergency | offers.Step


def parse_lang(value: str | None) -> str | None:
    return value if value in LANGUAGES else None


def parse_count(value: str | None, most: int) -> int:
    try:
        return min(max(int(value or 0), 0), most)
    except ValueError:
        return 0


def parse_tries(value: str | None) -> int:
    return parse_count(value, MAX_TRIES)


def parse_transfers(value: str | None) -> int:
    return parse_count(value, MAX_TRANSFERS)


def position(script: Script, at: str | None, lang: str | None) -> tuple[str, str | None]:
    """A valid (at, lang) pair; anything unknown falls back to a menu the caller can use."""
    if at == LANGUAGE_MENU or (lang is None and at not in SPOKEN_IN_EVERY_LANGUAGE):
        return LANGUAGE_MENU, None
    if at in script.summaries or (at and script.has_menu(at) and at != "after_summary"):
        return at, lang
    if at == ANSWERED and script.questions is not None:
        return at, lang
    return "topics", lang


def menu_id(script: Script, at: str) -> str:
    """The menu whose options work at ``at``: after an answer, the topic menu's."""
    return "after_summary" if at in script.summaries else "topics" if at == ANSWERED else at


def listens_for_questions(script: Script, at: str, lang: str | None) -> bool:
    """A chosen-language menu where a caller may ask a question: the topic menu, the menu after a
    summary (``at`` is its topic) and the menu after an answer."""
    return lang is not None and script.questions is not None and (
        at in ("topics", ANSWERED) or at in script.summaries)


def start(remembered: str | None = None) -> Ask:
    """A new call: language first, or straight to the topics in a returning caller's language."""
    if remembered in LANGUAGES:
        return Ask("topics", remembered, lead="returning")
    return Ask(LANGUAGE_MENU, None, lead="greeting")


def welcome(lang: str) -> Ask:
    """A language was chosen: the notice and the 911 line in it, then the topics."""
    return Ask("topics", lang, lead="welcome")


def retry(script: Script, at: str | None, lang: str | None, tries: int, lead: str) -> Step:
    """The caller was silent or chose something that is not an option."""
    at, lang = position(script, at, lang)
    if tries >= MAX_TRIES:  # the last offer went unanswered too
        return Goodbye(lang)
    if tries + 1 >= MAX_TRIES:
        offered = at != LANGUAGE_MENU and any(
            option.goes_to == VOICEMAIL for option in script.menu(menu_id(script, at)).options.values())
        return Goodbye(lang, lead, offered)
    return Ask(at, lang, tries + 1, lead)


def choose(script: Script, at: str | None, lang: str | None, tries: int,
           digits: str | None, speech: str | None, playing: bool = False) -> Step:
    """The caller pressed ``digits`` or said ``speech`` at menu ``at`` (``playing``: while
    the summary ``at`` was still being said)."""
    where = position(script, at, lang)
    if where != (at, lang):
        # A menu this script does not have (it was edited) or a lost language: a key meant
        # for that menu means nothing in another one, so ask again.
        return Ask(*where)
    digits = (digits or "").strip()
    speech = (speech or "")[:MAX_SPEECH_CHARS]
    if not digits and not normalise(speech):
        return retry(script, at, lang, tries, "no_input")
    if not digits and listens_for_questions(script, at, lang):
        if heard := _question(script, at, lang, speech):
            return heard
    key = digits if digits else key_from_speech(script, at, lang, speech)
    step = _follow(script, at, lang, key) if key in VALID_KEYS else None
    if step is None and playing:
        # A key that means nothing here does not cut the summary off with a scolding: it
        # is taken as the summary's end, and the after-summary menu follows.
        return Ask(at, lang, tries)
    return step or retry(script, at, lang, tries, "invalid_choice")


def _question(script: Script, at: str, lang: str, speech: str) -> asking.Answer | asking.Emergency | None:
    """Emergency words first; then words that only name an option are that option (None);
    anything else is a question."""
    if script.questions.index.is_emergency(speech, lang):
        return asking.Emergency(lang)
    # An option's hints, and its own words ("who is a candidate"): a caller who repeats them wants it.
    option_words = [word for words in speech_hints(script, at, lang).values() for word in words]
    option_words += [getattr(option.say, lang) for option in script.menu(menu_id(script, at)).options.values()]
    if asking.only_option_words(speech, lang, option_words + list(SPOKEN_DIGITS)):
        return None
    return asking.hear(script, lang, speech)


def _follow(script: Script, at: str, lang: str | None, key: str) -> Step | None:
    """Keys mean the same everywhere: before a language, 1 and 2 choose one (the language
    menu's keys); after, the topic keys are the topics, 6 switches language; 0 is the
    clinic and * goes back, always."""
    if key == CLINIC_KEY:
        return Transfer(lang)
    if lang is None:
        if option := script.language_menu.get(key):
            return welcome(option.language)
        if key == BACK_KEY:
            return Ask(LANGUAGE_MENU, None)
        if at == LANGUAGE_MENU:
            return None
    elif key == SWITCH_KEY:
        return welcome(next(each for each in LANGUAGES if each != lang))
    elif key == offers.PHONE_KEY and (asked := offers.key_five(script, at, lang)):
        return asked  # "to your phone": views.py says it only where it can be done
    menu = script.menu(menu_id(script, at))
    if key == BACK_KEY:
        # After an answer, * is "for the topics".
        return Ask("topics", lang) if at == ANSWERED else go_to(script, menu.back_to, lang, at)
    option = menu.options.get(key)
    if option is None and lang is not None:
        option = script.menu("topics").options.get(key)
    return go_to(script, option.goes_to, lang, at) if option else None


def go_to(script: Script, target: str, lang: str | None, at: str) -> Step:
    if target == CLINIC:
        return Transfer(lang)
    if target == VOICEMAIL:
        return Voicemail(lang)
    if target == LANGUAGE_MENU or (lang is None and target not in SPOKEN_IN_EVERY_LANGUAGE):
        return Ask(LANGUAGE_MENU, None)
    if target in (AGAIN, SLOWER):
        return Summary(at, lang, slow=target == SLOWER)
    if target in script.summaries:
        return Summary(target, lang)
    return Ask(target, lang)


def speech_hints(script: Script, at: str, lang: str | None) -> dict[str, list[str]]:
    """Words a caller may say at ``at``, by the key they stand for (every language's words
    before a language is chosen)."""
    langs = [lang] if lang else LANGUAGES
    hints = {key: list(option.hints) for key, option in script.language_menu.items()} if lang is None else {}
    if at != LANGUAGE_MENU:
        for key, option in script.menu(menu_id(script, at)).options.items():
            hints.setdefault(key, []).extend(word for each in langs for word in getattr(option.hints, each))
        if lang is not None:  # the topics, wherever the caller is
            for key, option in script.menu("topics").options.items():
                hints.setdefault(key, list(getattr(option.hints, lang)))
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
