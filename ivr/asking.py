"""What a caller's words mean where the line listens: an emergency, a menu option, or a question
for ivr/menus/questions.yaml.

Pure decisions, used by flow.py; no Flask here. In this order:
1. words that sound like an emergency, at every menu that listens to speech (in every language):
   the emergency sentence at once (``emergency``);
2. at a confirmation ("Did you ask about driving?"), yes or 1 is the answer, no the topics
   (``confirmed``);
3. words that only name a menu option ("recovery", "tell me about the risks", "operador"):
   the option, as before questions existed;
4. anything else is a question (``hear``): the answer, one confirmation, an out-of-scope kind's
   own answer, or no answer; noise ("uh huh") and the other language are told apart.
"""
from __future__ import annotations

from dataclasses import dataclass

from .questions import UNANSWERED, fold
from .script import Script

# Words around an option's words that do not make a request a question ("I'd like to hear about
# recovery, please"; "quiero saber de los riesgos").
REQUEST_WORDS = {
    "en": set("i id would like want to know hear about the a an tell me please more information info on for "
              "go get let talk speak with can could you and thanks thank yes ok okay so just some option "
              "number press menu of is it that what whats are um uh".split()),
    "es": set("quiero quisiera saber oir escuchar sobre de del el la los las lo un una por favor informacion "
              "me puede podria decir hablar con para acerca mas gracias si bueno este eh pues opcion numero "
              "menu a al y que es son cuales".split()),
}


@dataclass(frozen=True)
class Answer:
    """Say the answer of ``entry`` (an entry or an out-of-scope kind; when it is None, that there
    is no answer), then listen for another question. ``words``: what the caller said, for the
    call log (kept only with QUESTION_LOG=1, and only when nothing answered it)."""

    entry: str | None
    lang: str
    words: str = ""
    slow: bool = False  # said again, more slowly (key 8)

    @property
    def logged_as(self) -> str:
        return self.entry or UNANSWERED


@dataclass(frozen=True)
class Emergency:
    """The words sounded like an emergency: the 911 sentence (in every language when ``lang`` is
    None), then the topics and the clinic."""

    lang: str | None


@dataclass(frozen=True)
class Confirm:
    """Not sure: ask whether the caller asked about ``entry`` (yes or 1: its answer)."""

    entry: str
    lang: str
    words: str = ""


@dataclass(frozen=True)
class NotConfirmed:
    """The caller said no to a confirmation: the topics and the clinic."""

    lang: str


@dataclass(frozen=True)
class Unheard:
    """Words that are no question: ``kind`` "noise" ("uh huh") or "other_language"."""

    kind: str
    lang: str


# A confirmation's yes and no, as callers say them (folded: no accents). Said first, or alone.
YES = {"en": {"yes", "yeah", "yep", "yup", "correct", "right", "sure", "exactly", "one", "1", "uh huh",
              "thats right", "that is right", "i did", "yes please", "mhm"},
       "es": {"si", "correcto", "exacto", "eso", "asi es", "aja", "claro", "uno", "1", "efectivamente",
              "andale", "si senorita", "si senora", "eso mero", "sale"}}
NO = {"en": {"no", "nope", "wrong", "incorrect", "not really", "thats not it", "thats not what i asked"},
      "es": {"no", "incorrecto", "eso no", "para nada", "no es eso"}}
# At a confirmation, 1 is yes (said in the prompt: "Say yes or press 1").
YES_KEY = "1"


def only_option_words(speech: str, lang: str, option_words: list[str]) -> bool:
    """Whether the caller said nothing but option words and words of asking ("the risks please")."""
    said = f" {fold(speech)} "
    for phrase in sorted((fold(p) for p in option_words), key=len, reverse=True):
        if phrase:
            said = said.replace(f" {phrase} ", " ")
            # "For recovery" is said "recovery"; "Para saber quién es candidato", "quién es candidato".
            words = phrase.split()
            while words and words[0] in REQUEST_WORDS[lang]:
                words.pop(0)
            if words:
                said = said.replace(f" {' '.join(words)} ", " ")
    return all(word in REQUEST_WORDS[lang] or len(word) == 1 and word.isdigit() for word in said.split())


def emergency(script: Script, lang: str | None, speech: str) -> Emergency | None:
    """The emergency sentence, if the words sound like an emergency in any language (a caller in
    distress may fall back on their own; a false alarm is acceptable, a miss is not)."""
    if script.questions is not None and script.questions.index.is_emergency(speech, None):
        return Emergency(lang)
    return None


def confirmed(entry: str, lang: str, digits: str, speech: str) -> Answer | NotConfirmed | None:
    """A confirmation's answer: yes (or 1) is ``entry``'s answer, no the topics; None otherwise
    (another key, or another question)."""
    if digits:
        return Answer(entry, lang) if digits == YES_KEY else None
    words = fold(speech).split()
    starts = {" ".join(words[:n]) for n in (1, 2, 3)}
    if starts & NO[lang]:
        return NotConfirmed(lang)
    if starts & YES[lang]:
        return Answer(entry, lang)
    return None


def hear(script: Script, lang: str, speech: str) -> Answer | Confirm | Unheard:
    """The caller's words as a question: an answer, a confirmation, or no answer."""
    heard = script.questions.index.hear(speech, lang)
    if heard.kind in ("noise", "other_language"):
        return Unheard(heard.kind, lang)
    if heard.kind == "confirm":
        return Confirm(heard.label, lang, speech)
    return Answer(heard.label if heard.kind in ("answer", "out_of_scope") else None, lang, speech)
