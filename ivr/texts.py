"""Key 5, "to your phone": what the line says about it, and the text message of each topic
(ivr/menus/texts.yaml, ``to_your_phone``), with the rules check holds them to.

A text message carries the topic's key facts and the clinic's name, phone number and hours, and
nothing about the caller: its words are fixed by staff, and the only thing filled in is the
clinic's number ({phone}, from CLINIC_PHONE_NUMBER). It must fit in MAX_SEGMENTS, counted as
carriers do (``segments``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from pydantic import BaseModel, ConfigDict, StringConstraints

if TYPE_CHECKING:
    from .script import Script
    from .script_yaml import Report

LANGUAGES = ("en", "es")
# The key that sends "this" to the caller's phone: a text of the summary just heard, or, where the
# clinic does not answer, a call back. Pressed again at the call-back question, it confirms.
PHONE_KEY = "5"
# Carriers bill, and some phones show, each segment separately: a message of more arrives in pieces.
MAX_SEGMENTS = 2
# Characters per segment: one segment alone, or each part of a longer message (the rest of a
# part is the header that joins them). GSM-7 counts septets, UCS-2 16-bit code units.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# What {phone} stands for while check counts segments: a US number as the message writes it.
SAMPLE_PHONE = "(214) 555-0100"
CLINIC_NAME = "Dallas Pain Relief Center"

_Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(_Strict):
    en: _Words
    es: _Words


class Prompts(_Strict):
    """What the line says about key 5 (texts.yaml, ``to_your_phone``)."""

    text_offer: Words
    text_sending: Words
    text_daily_limit: Words
    call_back_offer: Words
    call_back_confirm: Words
    call_back_taken: Words
    call_back_declined: Words
    call_back_already: Words


class Messages(_Strict):
    """The text messages (texts.yaml, ``text_messages``): the clinic's line, then each topic's facts."""

    clinic: Words
    topics: dict[str, Words]


class ToYourPhone(_Strict):
    """texts.yaml: what the line says about key 5, and the text messages."""

    say: Prompts
    text_messages: Messages

    def prompt(self, name: str, lang: str) -> str:
        return getattr(getattr(self.say, name), lang)

    def message(self, topic: str, lang: str, phone: str) -> str:
        """The whole text of one topic's message, with the clinic's number."""
        facts = getattr(self.text_messages.topics[topic], lang)
        clinic = getattr(self.text_messages.clinic, lang).replace("{phone}", phone)
        return f"{facts} {clinic}"


# -- segments, as carriers count them ---------------------------------------------------


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    count: int
    units: int  # septets (GSM-7) or 16-bit code units (UCS-2)
    forced_by: str | None  # the first character that needs UCS-2

    @property
    def most(self) -> int:
        """The units MAX_SEGMENTS hold in this encoding."""
        single, part = (GSM7_SINGLE, GSM7_PART) if self.encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
        return single if MAX_SEGMENTS == 1 else part * MAX_SEGMENTS


def segments(text: str) -> Segments:
    """How many segments ``text`` is sent in. GSM-7 when every character is in the GSM 03.38
    alphabet (an extension character such as € or [ takes two septets, which are never split
    between parts); else UCS-2 (a character outside the BMP takes two units, never split)."""
    try:
        sizes = [len(character.encode("gsm03.38")) for character in text]
        encoding, single, part, forced_by = "GSM-7", GSM7_SINGLE, GSM7_PART, None
    except UnicodeEncodeError:
        sizes = [2 if ord(character) > 0xFFFF else 1 for character in text]
        encoding, single, part = "UCS-2", UCS2_SINGLE, UCS2_PART
        forced_by = next(character for character in text if not _in_gsm7(character))
    units = sum(sizes)
    if units <= single:
        return Segments(encoding, 1 if units else 0, units, forced_by)
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return Segments(encoding, count, units, forced_by)


def _in_gsm7(character: str) -> bool:
    try:
        character.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


# -- check's rules ------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"{[^}]*}")
_DIGIT = re.compile(r"\d")


def check(report: Report, script: Script) -> None:
    """texts.yaml: a message for each topic, with its key facts, within MAX_SEGMENTS, nothing filled
    in but the clinic's {phone}; the key in the offers. (Each text's language, and numbers and
    medicines against the article: checks.py, with every text a caller hears.)"""
    texts = script.to_your_phone
    if texts is None:
        return
    messages = texts.text_messages
    for lang in LANGUAGES:
        clinic = getattr(messages.clinic, lang)
        loc = ("to_your_phone", "text_messages", "clinic", lang)
        if _PLACEHOLDER.findall(clinic) != ["{phone}"]:
            report(loc, f"clinic ({lang}): write {{phone}} once where the clinic's number goes (the line fills it in), "
                        "and nothing else in curly brackets")
        if CLINIC_NAME not in clinic:
            report(loc, f"clinic ({lang}): the message must name the clinic: write {CLINIC_NAME}")
    for topic in script.summaries:
        if topic not in messages.topics:
            report(("to_your_phone", "text_messages", "topics"), f"no text message for '{topic}': callers who hear it are not "
                   f"offered a text (add {topic}: with en: and es:)", warning=True)
    for topic, words in messages.topics.items():
        if topic not in script.summaries:
            report(("to_your_phone", "text_messages", "topics", topic), f"there is no summary '{topic}' (summaries.yaml): "
                   "fix the name, or delete this message")
            continue
        facts = script.key_facts.get(topic)
        for lang in LANGUAGES:
            loc = ("to_your_phone", "text_messages", "topics", topic, lang)
            text = getattr(words, lang)
            if _PLACEHOLDER.search(text):
                report(loc, f"{topic} ({lang}): a message says nothing about the caller and fills nothing in: "
                            "remove the words in curly brackets")
            if _DIGIT.search(text):
                report(loc, f"{topic} ({lang}): write numbers in words, as the article does "
                            "(\"six weeks\", \"seis semanas\")")
            if facts is not None:
                said = " ".join(text.casefold().split())
                kept = [fact for fact in getattr(facts, lang)
                        if any(" ".join(choice.casefold().split()) in said for choice in fact.split("|"))]
                if len(kept) < 2:
                    report(loc, f"{topic} ({lang}): a text message keeps two to four key facts of {topic} from the article; this "
                           f"one has {len(kept)} ({report.where(('key_facts', topic, lang))} lists them)")
            counted = segments(texts.message(topic, lang, SAMPLE_PHONE))
            if counted.count > MAX_SEGMENTS:
                why = f" ('{counted.forced_by}' makes it UCS-2)" if counted.forced_by else ""
                report(loc, f"{topic} ({lang}): {counted.count} segments, {counted.units} characters in {counted.encoding}{why}: "
                       f"with the clinic's line a text message must fit in {MAX_SEGMENTS} "
                       f"({counted.most} characters in {counted.encoding}); shorten it")
    prompts = texts.say
    for name in Prompts.model_fields:
        words = getattr(prompts, name)
        if name.endswith("_offer") or name == "call_back_confirm":
            for lang in LANGUAGES:
                if PHONE_KEY not in getattr(words, lang):
                    report(("to_your_phone", "say", name, lang), f"{name} ({lang}) must tell the caller to press {PHONE_KEY}")
        if name == "call_back_confirm":
            for lang in LANGUAGES:  # the other prompts are checked with every spoken text (checks.py)
                if _PLACEHOLDER.findall(getattr(words, lang)) != ["{number}"]:
                    report(("to_your_phone", "say", name, lang), f"{name} ({lang}): write {{number}} where the line "
                           "reads the caller's number back, and nothing else in curly brackets")


def segment_lines(script: Script) -> list[str]:
    """check's report of each text message's size, as carriers count it."""
    if script.to_your_phone is None:
        return []
    lines = []
    for topic in script.to_your_phone.text_messages.topics:
        for lang in LANGUAGES:
            counted = segments(script.to_your_phone.message(topic, lang, SAMPLE_PHONE))
            why = f", '{counted.forced_by}' makes it UCS-2" if counted.forced_by else ""
            lines.append(f"text message {topic} ({lang}): {counted.count} segment{'s' * (counted.count != 1)} "
                         f"({counted.units} of {counted.most} characters in {counted.encoding}{why})")
    return lines
