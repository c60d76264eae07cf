"""Key 5, "to your phone": the pure decisions (no Flask here, as in flow.py).

After a summary a caller may get it by text message; where the clinic does not answer or is
closed, a call back at the number they call from, confirmed first (5 again; * no). The line
offers either only when it can be done (views.py decides with what a webhook knows: the
settings, the caller's number, and this call's texts, which travel in the URL).

Which numbers can get a text, without asking anyone: Twilio's Lookup would tell a mobile from a
landline, but it is a network call, which a webhook never makes. The rule: a valid US or Mexican
number in E.164 (libphonenumber's offline metadata), of a type that can be a mobile: MOBILE, or
FIXED_LINE_OR_MOBILE (every US number of an ordinary area code: the plan does not tell them
apart). Withheld numbers ("Anonymous", "Restricted", a short or made-up number), toll-free,
premium and other countries' numbers are never offered a text. A US landline is offered one and
Twilio refuses it: the report counts it as failed.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from .script import Script
from .texts import PHONE_KEY  # noqa: F401  (flow.py: offers.PHONE_KEY)

# Texts per call and per number in any 24 hours, so the line cannot be used to send spam.
TEXTS_PER_DAY = 3
CLINIC_MENUS = ("clinic_unavailable", "clinic_closed")
TEXT_REGIONS = ("US", "MX")
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True)
class SendText:
    """5 after the summary of ``topic``."""

    topic: str
    lang: str


@dataclass(frozen=True)
class ConfirmCallBack:
    """5 at a menu where the clinic does not answer (``back``): read the number back, ask to confirm."""

    lang: str
    back: str


@dataclass(frozen=True)
class CallBackTaken:
    lang: str


@dataclass(frozen=True)
class CallBackDeclined:
    lang: str
    back: str


Step = SendText | ConfirmCallBack | CallBackTaken | CallBackDeclined


def key_five(script: Script, at: str, lang: str | None) -> Step | None:
    """What 5 asks for at ``at``, if anything (views.py then decides whether it can be done)."""
    texts = script.to_your_phone
    if texts is None or lang is None:
        return None
    if at in script.summaries and at in texts.text_messages.topics:
        return SendText(at, lang)
    if at in CLINIC_MENUS:
        return ConfirmCallBack(lang, at)
    return None


def can_get_texts(number: str | None) -> bool:
    return _kind(number or "")[0]


def can_call_back(number: str | None) -> bool:
    """A number the clinic can call: a valid US or Mexican number, not toll-free or premium."""
    return _kind(number or "")[1]


# libphonenumber takes about 0.2 ms a number, a third of a webhook: once per number per process.
@functools.lru_cache(maxsize=10_000)
def _kind(number: str) -> tuple[bool, bool]:
    """(can get texts, can be called back)."""
    parsed = _parsed(number)
    if parsed is None or phonenumbers.region_code_for_number(parsed) not in TEXT_REGIONS:
        return False, False
    kind = phonenumbers.number_type(parsed)
    return kind in _MOBILE_TYPES, kind in (*_MOBILE_TYPES, PhoneNumberType.FIXED_LINE)


def _parsed(number: str | None) -> phonenumbers.PhoneNumber | None:
    if not number or not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def read_back(number: str) -> str:
    """The number as the caller dials it at home, digit by digit in groups: "2 1 4, 5 5 5, 9 8 7 6".
    The voice says each digit in the caller's language."""
    national = phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = ["".join(c for c in part if c.isdigit()) for part in national.replace("-", " ").split()]
    return ", ".join(" ".join(group) for group in groups if group)


def parse_texted(value: str | None, script: Script) -> tuple[str, ...]:
    """This call's texts so far (the URL's ``texted``: topics joined by "."), unknown ones dropped."""
    return tuple(topic for topic in (value or "").split(".") if topic in script.summaries)[:TEXTS_PER_DAY]
