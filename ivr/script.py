"""The script model: everything a caller can hear, as pydantic models, and the constants of a call.

``menus.py`` reads the YAML files into these models; ``checks.py`` holds the rules a schema
cannot say.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StringConstraints, field_validator,
                      model_validator)

from .questions import NOT_ANSWERED, QuestionIndex
from .texts import Prompts as PhonePrompts
from .texts import ToYourPhone

LANGUAGES = ("en", "es")
MAX_OPTIONS = 5
# goes_to targets that are actions rather than menus or summaries.
CLINIC, VOICEMAIL, SLOWER = "clinic", "voicemail", "slower"
LANGUAGE_MENU = "language"
BACK_KEY, CLINIC_KEY = "*", "0"
# Keys mean the same in every menu: 1 to 4 are the topics (the topic menu's options), and
# these keys only ever do one thing, so no key can mean a topic in one menu and something
# else in another. After a language is chosen they work in every menu, offered or not:
# SWITCH_KEY changes the language, 7 leaves a message, 8 hears the summary or answer just
# heard again, more slowly (at a plain menu: the menu again).
SWITCH_KEY, VOICEMAIL_KEY, SLOWER_KEY = "6", "7", "8"
ACTION_KEYS = {CLINIC_KEY: CLINIC, VOICEMAIL_KEY: VOICEMAIL, SLOWER_KEY: SLOWER}
# Never a choice: a caller keying 9 1 1 hears the emergency sentence at once, then the same menu.
EMERGENCY_KEY = "9"
# Kept free for "to your phone" (a text message, a call back): never a topic or a menu option.
RESERVED_KEY = "5"
# A slow version of a prompt ("summary.recovery.slow"): the same words, said more slowly.
SLOW_SUFFIX = ".slow"
# The phone's keys, in the order a menu offers them: 1 to 9, then 0, * and #.
KEYPAD = "1234567890*#"
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}

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


class Opening(_Strict):
    """Said around the first menus (flow.OPENING, WELCOME, RETURNING)."""

    about: Text
    notice: Text
    emergency: Text
    switch_language: Text


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
    # What key 0 is offered as while the clinic is closed (it says when it opens, and offers a message).
    closed_option: Text
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


class KeyFacts(_Strict):
    """Phrases from the article one summary must keep ("a | b": either will do)."""

    en: list[SpokenText]
    es: list[SpokenText]


# -- spoken questions (ivr/menus/questions.yaml) -----------------------------------


class Phrases(_Strict):
    """Words or questions a caller may say, in each language (at least one each)."""

    en: list[SpokenText] = Field(min_length=1)
    es: list[SpokenText] = Field(min_length=1)


class QuestionEntry(_Strict):
    """One question callers ask, in a few of their ways, and the line's short answer. ``about``
    names the question in a few words (said before the answer, and in a confirmation);
    ``from_article``: the lines of docs/source-article.txt the answer comes from."""

    about: Text
    from_article: list[int] = Field(min_length=1)
    asked: Phrases
    answer: Text


class Words(_Strict):
    """Words or phrases, in each language (none is fine)."""

    en: list[SpokenText] = Field(default_factory=list)
    es: list[SpokenText] = Field(default_factory=list)


class OutOfScopeKind(_Strict):
    """A kind of question the article does not answer (cost, the caller's own medicines): its own
    short answer with the clinic. ``words`` mark the kind at once, as written ("medicare")."""

    about: Text
    words: Words = Field(default_factory=Words)
    asked: Phrases
    answer: Text


class QuestionPrompts(_Strict):
    invite: Text
    after_answer: Text
    no_answer: Text
    emergency: Text
    about: Text
    confirm: Text
    not_confirmed: Text


class NotAnswered(_Strict):
    """Other questions the article does not answer: the caller hears no_answer."""

    asked: Phrases


class SameWords(_Strict):
    """Groups of words callers use for the same thing, in each language."""

    en: list[Annotated[list[SpokenText], Field(min_length=2)]]
    es: list[Annotated[list[SpokenText], Field(min_length=2)]]


class Questions(_Strict):
    """What callers may ask in their own words. The model is trained here, once per version of
    the examples (when the scripts load), never per call."""

    prompts: QuestionPrompts
    emergency: Phrases
    out_of_scope: dict[str, OutOfScopeKind] = Field(default_factory=dict)
    not_answered: NotAnswered
    same_words: SameWords
    entries: dict[str, QuestionEntry] = Field(min_length=1)
    _index: QuestionIndex = PrivateAttr()

    @model_validator(mode="after")
    def _kinds_are_not_entries(self) -> "Questions":
        for kind in self.out_of_scope:
            if kind in self.entries or kind == NOT_ANSWERED:
                raise ValueError(f"'{kind}' is both an out_of_scope kind and an entry: rename one of them")
        return self

    def model_post_init(self, _context) -> None:
        labelled = {**self.entries, **self.out_of_scope}
        examples = {label: {lang: getattr(item.asked, lang) for lang in LANGUAGES} for label, item in labelled.items()}
        examples[NOT_ANSWERED] = {lang: getattr(self.not_answered.asked, lang) for lang in LANGUAGES}
        self._index = QuestionIndex(
            examples, set(self.out_of_scope),
            {kind: {lang: getattr(item.words, lang) for lang in LANGUAGES} for kind, item in self.out_of_scope.items()},
            {lang: getattr(self.emergency, lang) for lang in LANGUAGES},
            {lang: getattr(self.same_words, lang) for lang in LANGUAGES},
        )

    @property
    def index(self) -> QuestionIndex:
        return self._index

    def answered(self, label: str) -> QuestionEntry | OutOfScopeKind:
        """The entry or out-of-scope kind named ``label``."""
        return self.entries.get(label) or self.out_of_scope[label]


class Script(_Strict):
    """Everything the caller can hear, validated."""

    prompts: Prompts
    opening: Opening
    press: Text
    star: Text
    language_menu: dict[str, LanguageOption]
    speech_keys: dict[Literal["0", "*"], Hints]
    menus: Menus
    summaries: dict[str, Text] = Field(min_length=1)
    clinic_hours: ClinicHours
    # Not spoken: what check makes sure each summary still says (ivr/menus/key_facts.yaml).
    key_facts: dict[str, KeyFacts] = Field(default_factory=dict)
    # Without questions.yaml the line offers keys and option words only.
    questions: Questions | None = None
    # Key 5: texts of the summaries, call backs (ivr/menus/texts.yaml); without it, never offered.
    to_your_phone: ToYourPhone | None = None

    # -- what a caller hears -------------------------------------------------
    def menu(self, menu_id: str) -> Menu:
        return getattr(self.menus, menu_id)

    def has_menu(self, menu_id: str) -> bool:
        return menu_id in Menus.model_fields

    def text(self, prompt_id: str, lang: str) -> str:
        """The words of one prompt in one language.

        Prompt ids: a name from ``prompts`` ("greeting"), "menu.<id>" (intro plus every
        option line, or "menu.language"), "summary.<topic>" (with ".slow": the same words,
        recorded slowly), "question.<name>" (a sentence around the answers, e.g.
        "question.no_answer"), "answer.<entry>" (an entry's or out-of-scope kind's answer, after
        its "about") or "confirm.<entry>" ("Did you ask about ...?").
        """
        prompt_id = prompt_id.removesuffix(SLOW_SUFFIX)
        kind, _, name = prompt_id.partition(".")
        if kind == "menu" and name == LANGUAGE_MENU:
            return " ".join(o.say for o in self.language_menu.values() if o.language == lang)
        if kind == "menu":
            return self.menu_text(name, lang)
        if kind == "summary":
            return getattr(self.summaries[name], lang)
        if kind == "question":
            return getattr(getattr(self.questions.prompts, name), lang)
        if kind in ("answer", "confirm"):
            # Every answer starts by naming its question; a confirmation asks about it.
            answered = self.questions.answered(name)
            template = self.questions.prompts.about if kind == "answer" else self.questions.prompts.confirm
            heading = getattr(template, lang).format(about=getattr(answered.about, lang))
            return f"{heading} {getattr(answered.answer, lang)}" if kind == "answer" else heading
        if kind == "phone":
            return self.to_your_phone.prompt(name, lang)
        if prompt_id in Opening.model_fields:
            return getattr(getattr(self.opening, prompt_id), lang)
        return getattr(getattr(self.prompts, prompt_id), lang)

    def menu_text(self, menu_id: str, lang: str, without: frozenset[str] = frozenset(), intro: bool = True,
                  closed: bool = False) -> str:
        """A menu's intro and option lines, leaving out options that go to ``without``; ``closed``:
        the clinic's option says what 0 does while the clinic is closed."""
        menu = self.menu(menu_id)
        lines = [getattr(menu.intro, lang)] if menu.intro and intro else []
        template = getattr(self.press, lang)
        for key, option in menu.options.items():
            if option.goes_to in without:
                continue
            spoken_key = getattr(self.star, lang) if key == BACK_KEY else key
            say = self.clinic_hours.closed_option if closed and option.goes_to == CLINIC else option.say
            lines.append(template.format(option=getattr(say, lang), key=spoken_key))
        return " ".join(lines)

    def prompt_ids(self) -> list[str]:
        """Every prompt a caller can hear (the audio build records each one)."""
        return (
            list(Prompts.model_fields)
            + list(Opening.model_fields)
            + [f"menu.{LANGUAGE_MENU}"]
            + [f"menu.{m}" for m in Menus.model_fields]
            + [f"summary.{s}" for s in self.summaries]
            + [f"summary.{s}{SLOW_SUFFIX}" for s in self.summaries]
            + ([f"question.{p}" for p in QuestionPrompts.model_fields if p not in ("about", "confirm")]
               + [f"answer.{e}" for e in [*self.questions.entries, *self.questions.out_of_scope]]
               + [f"confirm.{e}" for e in self.questions.entries] if self.questions else [])
            # The call-back question reads the caller's number: said by Twilio's voice, never recorded.
            + ([f"phone.{p}" for p in PhonePrompts.model_fields if p != "call_back_confirm"]
               if self.to_your_phone else [])
        )


def normalise(words: str) -> str:
    """Lower-case words without accents or punctuation, for matching speech to hints."""
    decomposed = unicodedata.normalize("NFKD", words.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())
