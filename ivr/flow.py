"""Decide what a caller hears next, from where the call is and what the caller did.

Pure functions of the script and the call's position; no Flask here. The position
travels in the webhook URLs, so any worker can serve any step of any call.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import asking, offers
from .script import (BACK_KEY, CLINIC, CLINIC_KEY, EMERGENCY_KEY, KEYPAD, LANGUAGE_MENU, LANGUAGES, SLOWER, SLOWER_KEY,
                     SWITCH_KEY, VOICEMAIL, VOICEMAIL_KEY, Script, normalise)

# A caller gets three chances at a menu (silence or a wrong key); after the third, a person
# (while the clinic answers), else one last offer to leave a message, then a polite goodbye.
MAX_TRIES = 3
# Transfers to the clinic per call (counted in the URL): a busy clinic is not dialled for ever.
MAX_TRANSFERS = 2
# Messages begun with nothing recorded, per call (counted in the URL): the second one ends the call.
MAX_EMPTY_MESSAGES = 2
# The same key pressed this often in a row is a key held down, or a caller who is stuck: each
# press may be a good choice (a topic again, the other language), so the tries never run out.
# The line then acts as after the last try (a person, or the last offer; the next time, goodbye).
MAX_SAME_KEY = 4
# What a first-time caller hears, all in one Gather: the clinic's name, then each language's
# choice in its own voice (prompt id, language). The emergency sentence follows, in each
# language, as every menu's last words until the caller has heard them once (views.py).
OPENING = (("greeting", "en"), (f"menu.{LANGUAGE_MENU}", "en"), (f"menu.{LANGUAGE_MENU}", "es"))
# Right after the choice, before the topics, in the chosen language: what the line is about and
# that it is not medical advice. Said once per language a call chooses, not at every switch.
WELCOME = ("about", "notice")
# A returning caller, greeted in the language they chose last time; the topic menu follows,
# then the offer to switch language.
RETURNING = ("greeting", "about", "notice")
# Leads that are not a prompt of their own. EMERGENCY: key 9 was pressed; the emergency sentence
# is said at once, outside the menu's Gather, so the "1 1" that follow choose nothing. REPEAT: the
# menu again, without a scolding (a key that means something elsewhere, e.g. 8 at a plain menu).
EMERGENCY, REPEAT = "emergency", "repeat"
# Keys that get "That is not one of the choices": # only. Every other key means something
# somewhere (the topics, 5 to your phone, 6, 7, 8, 9), so where it does nothing the menu is
# said again without a scolding.
SCOLDED_KEYS = {"#"}
# The lead of a menu said again after a question in the other language: the offer to switch to
# it (opening.switch_language, in its voice).
OTHER_LANGUAGE = "other_language"
# The lead of the topics after a "no" at a confirmation ("Sorry, I did not understand.").
NOT_CONFIRMED = "question.not_confirmed"
# Speech results can be arbitrarily long; nothing useful is past this.
MAX_SPEECH_CHARS = 200
VALID_KEYS = set(KEYPAD)
# Menus a caller can reach before choosing a language (0 at the language menu): they are
# said in every language, one after the other.
SPOKEN_IN_EVERY_LANGUAGE = {LANGUAGE_MENU, "clinic_unavailable", "clinic_closed"}
# The menu after an answer to a spoken question: another question, the topic keys, * for the
# topics, 0 for the clinic.
ANSWERED = "answered"
# A confirmation of a question's entry ("Did you ask about driving?") is at "confirm.<entry>".
CONFIRM = "confirm."
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
    answer: str | None = None  # after an answer: its entry in questions.yaml, for 8 (again, more slowly)


@dataclass(frozen=True)
class Summary:
    topic: str
    lang: str
    slow: bool = False


@dataclass(frozen=True)
class Transfer:
    """To the clinic. ``at``, ``tries``: the menu 0 was pressed at, for when it cannot be done (the
    clinic closed or busy): 0 pressed again there counts as a try, so it cannot go on for ever."""

    lang: str | None
    at: str | None = None
    tries: int = 0


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


Step = Ask | Summary | Transfer | Voicemail | Goodbye | asking.Answer | asking.Emergency | asking.Confirm | offers.Step


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
    if confirming(script, at) and lang is not None:
        return at, lang
    return "topics", lang


def confirming(script: Script, at: str | None) -> str | None:
    """The entry a confirmation at ``at`` asks about, or None."""
    entry = at[len(CONFIRM):] if at and at.startswith(CONFIRM) else None
    return entry if entry and script.questions is not None and entry in script.questions.entries else None


def menu_id(script: Script, at: str) -> str:
    """The menu whose options work at ``at``: after an answer, the topic menu's."""
    return "after_summary" if at in script.summaries else "topics" if at == ANSWERED or confirming(script, at) else at


def listens_for_questions(script: Script, at: str, lang: str | None) -> bool:
    """A chosen-language menu where a caller may ask a question: the topic menu, the menu after a
    summary (``at`` is its topic) and the menu after an answer."""
    return lang is not None and script.questions is not None and (
        at in ("topics", ANSWERED) or at in script.summaries or bool(confirming(script, at)))


def start(remembered: str | None = None) -> Ask:
    """A new call: language first, or straight to the topics in a returning caller's language."""
    if remembered in LANGUAGES:
        return Ask("topics", remembered, lead="returning")
    return Ask(LANGUAGE_MENU, None, lead="greeting")


def welcome(lang: str) -> Ask:
    """A language was chosen: what the line is about and the notice in it, then the topics."""
    return Ask("topics", lang, lead="welcome")


def retry(script: Script, at: str | None, lang: str | None, tries: int, lead: str | None) -> Step:
    """The caller was silent or chose something that is not an option (``lead`` None: the
    menu with its intro again, e.g. 0 pressed again at the closed-clinic menu)."""
    at, lang = position(script, at, lang)
    if confirming(script, at):  # silence at a confirmation: the topics again
        at = "topics"
    if tries >= MAX_TRIES:  # the last offer went unanswered too
        return Goodbye(lang, EMERGENCY if lead == EMERGENCY else None)
    if tries + 1 >= MAX_TRIES:
        offered = at != LANGUAGE_MENU and any(
            option.goes_to == VOICEMAIL for option in script.menu(menu_id(script, at)).options.values())
        return Goodbye(lang, lead, offered)
    return Ask(at, lang, tries + 1, lead)


def choose(script: Script, at: str | None, lang: str | None, tries: int,
           digits: str | None, speech: str | None, playing: bool = False, same_key: int = 1,
           answer: str | None = None) -> Step:
    """The caller pressed ``digits`` or said ``speech`` at menu ``at`` (``playing``: while
    the summary ``at`` was still being said; ``same_key``: how many times in a row this key has
    now been pressed; ``answer``: after an answer, its entry)."""
    where = position(script, at, lang)
    digits = (digits or "").strip()
    if digits and same_key >= MAX_SAME_KEY:
        return retry(script, *where, max(tries, MAX_TRIES - 1), EMERGENCY if digits == EMERGENCY_KEY else REPEAT)
    if digits == EMERGENCY_KEY:
        # Never a choice, anywhere: the caller may be keying 9 1 1.
        return Ask(*where, tries, EMERGENCY, answer if where[0] == ANSWERED else None)
    if where != (at, lang):
        # A menu this script does not have (it was edited) or a lost language: a key meant
        # for that menu means nothing in another one, so ask again.
        return Ask(*where)
    speech = (speech or "")[:MAX_SPEECH_CHARS]
    if not digits and not normalise(speech):
        return retry(script, at, lang, tries, "no_input")
    if not digits and (emergency := asking.emergency(script, lang, speech)):
        return emergency  # first, wherever the caller speaks
    if entry := confirming(script, at):
        if step := _confirmation(entry, lang, digits, speech):
            return step
        at, tries = "topics", 0  # another key, or another question
    if not digits and listens_for_questions(script, at, lang):
        if heard := _question(script, at, lang, tries, speech):
            return heard
    key = digits if digits else key_from_speech(script, at, lang, speech)
    step = _follow(script, at, lang, tries, key, answer) if key in VALID_KEYS else None
    if step is None and playing:
        # A key that means nothing here does not cut the summary off with a scolding: it
        # is taken as the summary's end, and the after-summary menu follows.
        return Ask(at, lang, tries)
    if step is None and digits and digits not in SCOLDED_KEYS:
        return retry(script, at, lang, tries, REPEAT)
    return step or retry(script, at, lang, tries, "invalid_choice")


def _confirmation(entry: str, lang: str, digits: str, speech: str) -> Step | None:
    """Yes (or 1) at a confirmation: the answer; no: the topics and the clinic; None otherwise."""
    match asking.confirmed(entry, lang, digits, speech):
        case asking.Answer() as answer:
            return answer
        case asking.NotConfirmed():
            return Ask("topics", lang, lead=NOT_CONFIRMED)
    return None


def _question(script: Script, at: str, lang: str, tries: int, speech: str) -> Step | None:
    """Words that only name an option are that option (None); anything else is a question.
    Noise ("uh huh") gets the menu again, the other language the offer to switch (6)."""
    # An option's hints, and its own words ("who is a candidate"): a caller who repeats them wants it.
    option_words = [word for words in speech_hints(script, at, lang).values() for word in words]
    option_words += [getattr(option.say, lang) for option in script.menu(menu_id(script, at)).options.values()]
    if asking.only_option_words(speech, lang, option_words + list(SPOKEN_DIGITS)):
        return None
    match asking.hear(script, lang, speech):
        case asking.Unheard(kind="noise"):
            return retry(script, at, lang, tries, "no_input")
        case asking.Unheard(kind="other_language"):
            return Ask(at, lang, tries, lead=OTHER_LANGUAGE)
        case heard:
            return heard


def _follow(script: Script, at: str, lang: str | None, tries: int, key: str, answer: str | None = None) -> Step | None:
    """Keys mean the same everywhere: before a language, 1 and 2 choose one (the language
    menu's keys); after, the topic keys are the topics, 6 switches language, 7 leaves a message
    and 8 hears the summary again, more slowly; 0 is the clinic and * goes back, always."""
    if key == CLINIC_KEY:
        return Transfer(lang, at, tries)
    if lang is None:
        if option := script.language_menu.get(key):
            return welcome(option.language)
        if at == LANGUAGE_MENU:
            return None
    elif key == SWITCH_KEY:
        return welcome(next(each for each in LANGUAGES if each != lang))
    elif key == VOICEMAIL_KEY:
        return Voicemail(lang)
    elif key == SLOWER_KEY:
        if at == ANSWERED and answer in script.questions.entries:
            return asking.Answer(answer, lang, slow=True)
        return Summary(at, lang, slow=True) if at in script.summaries else None
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
        return Transfer(lang, at)
    if target == VOICEMAIL:
        return Voicemail(lang)
    if target == LANGUAGE_MENU or (lang is None and target not in SPOKEN_IN_EVERY_LANGUAGE):
        return Ask(LANGUAGE_MENU, None)
    if target == SLOWER:
        return Summary(at, lang, slow=True)
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
