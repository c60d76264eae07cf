"""What a caller's words mean where a chosen-language menu listens: an emergency, a menu option,
or a question for ivr/menus/questions.yaml.

Pure decisions, used by flow.py; no Flask here. In this order:
1. words that sound like an emergency: the emergency sentence at once;
2. words that only name a menu option ("recovery", "tell me about the risks", "operador"):
   the option, as before questions existed;
3. anything else is a question: the best entry's answer, or no answer (never a guess).
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
    """Say the answer of ``entry`` (or, when it is None, that there is no answer), then listen for
    another question. ``words``: what the caller said, for the call log (kept only with
    QUESTION_LOG=1, and only when nothing answered it)."""

    entry: str | None
    lang: str
    words: str = ""
    slow: bool = False  # said again, more slowly (key 8)

    @property
    def logged_as(self) -> str:
        return self.entry or UNANSWERED


@dataclass(frozen=True)
class Emergency:
    """The words sounded like an emergency: the 911 sentence, then listen again."""

    lang: str


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


def hear(script: Script, lang: str, speech: str) -> Answer:
    """The caller's words as a question: the entry that answers them, or none."""
    return Answer(script.questions.index.match(speech, lang), lang, speech)
