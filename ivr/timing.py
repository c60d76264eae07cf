"""How long a caller listens before the first word of each summary: the line's speed budget.

One computation, used by ``check`` (a warning staff see when an edit makes a budget slip) and
by ``make bench`` (the table). It follows what the webhooks say (the parts are flow.py's
OPENING, WELCOME and RETURNING, the same ones views.py speaks) for a caller who presses each
key as soon as the sentence offering it ends: a Gather stops speaking at the first key. The
emergency line, said after a menu's options until the caller has heard it, is not counted.

Spoken text is timed at a calm pace for older callers: WORDS_PER_SECOND in each language (Spanish
words are longer: about 2.2 syllables against 1.55, so fewer a second), plus SENTENCE_PAUSE after
each sentence; a number is said digit by digit ("9 1 1" is three words).
A recorded prompt is timed by its length in the audio build's manifest, whole (where its
key falls inside the recording is unknown). Network and speech-recognition delays are not counted.
"""
from __future__ import annotations

import re

from . import flow
from .checks import mentioned_keys
from .script import LANGUAGE_MENU, LANGUAGE_NAMES, LANGUAGES, Script

WORDS_PER_SECOND = {"en": 2.2, "es": 2.0}
SENTENCE_PAUSE = 0.25
# Seconds to the first word of a summary, for a first-time caller and for a returning one
# (greeted in the language they chose before); and until both language choices were heard.
FIRST_TOPIC_BUDGET, EVERY_TOPIC_BUDGET = 15, 22
RETURNING_FIRST_TOPIC_BUDGET, RETURNING_EVERY_TOPIC_BUDGET = 12, 18
LANGUAGE_CHOICES_BUDGET = 8

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def spoken_words(text: str) -> int:
    return sum(len(word) if word.isdigit() else 1 for word in _WORD.findall(text))


def spoken_seconds(text: str, lang: str) -> float:
    """Estimated seconds to say ``text`` in ``lang`` at the line's calm pace."""
    return sum(spoken_words(s) / WORDS_PER_SECOND[lang] + SENTENCE_PAUSE for s in sentences(text))


def heard_until(script: Script, prompt_id: str, lang: str, key: str | None,
                recorded: dict[tuple[str, str], float]) -> float:
    """Seconds of one prompt a caller hears: all of it, or up to the sentence offering ``key``."""
    if (prompt_id, lang) in recorded:
        return recorded[prompt_id, lang]
    total = 0.0
    for sentence in sentences(script.text(prompt_id, lang)):
        total += spoken_seconds(sentence, lang)
        if key is not None and key in mentioned_keys(sentence, lang):
            break
    return total


def topic_keys(script: Script) -> dict[str, str]:
    """Each summary's key in the topic menu, in the order the menu offers them."""
    return {option.goes_to: key for key, option in script.menu("topics").options.items()
            if option.goes_to in script.summaries}


def language_key(script: Script, lang: str) -> str:
    return next(key for key, option in script.language_menu.items() if option.language == lang)


def opening_seconds(script: Script, lang: str, recorded: dict | None = None) -> float:
    """From the first word of a call to the end of the sentence offering ``lang``."""
    recorded = recorded or {}
    total = 0.0
    for prompt_id, each in flow.OPENING:
        offered = prompt_id == f"menu.{LANGUAGE_MENU}" and each == lang
        total += heard_until(script, prompt_id, each, language_key(script, lang) if offered else None, recorded)
        if offered:
            return total
    raise ValueError(f"the opening never offers {lang}")


def time_to_information(script: Script, lang: str, returning: bool,
                        recorded: dict[tuple[str, str], float] | None = None) -> dict[str, float]:
    """Seconds from the first word of the call to the first word of each summary, by topic.

    ``recorded``: the length of each prompt that plays a recording, by (prompt id, language).
    """
    recorded = recorded or {}
    if returning:
        before = sum(heard_until(script, prompt_id, lang, None, recorded) for prompt_id in flow.RETURNING)
    else:
        before = opening_seconds(script, lang, recorded) + sum(
            heard_until(script, prompt_id, lang, None, recorded) for prompt_id in flow.WELCOME)
    return {topic: before + heard_until(script, "menu.topics", lang, key, recorded)
            for topic, key in topic_keys(script).items()}


def over_budget(script: Script, recorded: dict | None = None) -> list[str]:
    """One message per budget the scripts miss, in staff's words."""
    messages = []
    heard_both = opening_seconds(script, LANGUAGES[-1], recorded)
    if heard_both > LANGUAGE_CHOICES_BUDGET:
        messages.append(f"a caller hears every language choice after {heard_both:.1f} s; the budget is "
                        f"{LANGUAGE_CHOICES_BUDGET} s: shorten the greeting or the language_menu lines")
    for returning, first_budget, every_budget in ((False, FIRST_TOPIC_BUDGET, EVERY_TOPIC_BUDGET),
                                                  (True, RETURNING_FIRST_TOPIC_BUDGET, RETURNING_EVERY_TOPIC_BUDGET)):
        who = "a returning caller" if returning else "a first-time caller"
        for lang in LANGUAGES:
            for n, (topic, seconds) in enumerate(time_to_information(script, lang, returning, recorded).items()):
                budget = first_budget if n == 0 else every_budget
                if seconds > budget:
                    messages.append(f"{who} in {LANGUAGE_NAMES[lang]} waits {seconds:.1f} s for the first word of "
                                    f"'{topic}'; the budget is {budget} s: shorten 'about', the notice or the "
                                    f"topic menu's lines")
    return messages
