"""What the clinic's article (docs/source-article.txt) says in numbers: check holds every text to it.

Every spoken word about the procedure comes from the article, so a number, a length of time or a
medicine that the article does not have is a mistake, in English or in Spanish, written in
digits or in words ("two weeks", "dos semanas", "2 weeks"). Keys ("press 2") and 9 1 1 are
the line's own numbers.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ARTICLE = Path(__file__).parent.parent / "docs" / "source-article.txt"
EMERGENCY_NUMBER = 911

_EN_NUMBERS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())} | {word: 10 * n for n, word in enumerate(
        "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
# Spanish, without accents (words are compared without them). "un" and "una" are also "a": only
# a length of time counts them ("una semana").
_ES_NUMBERS = {word: n for n, word in enumerate(
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciseis "
    "diecisiete dieciocho diecinueve veinte veintiuno veintidos veintitres veinticuatro veinticinco veintiseis "
    "veintisiete veintiocho veintinueve".split())} | {word: 10 * n for n, word in enumerate(
        "treinta cuarenta cincuenta sesenta setenta ochenta noventa".split(), start=3)} | {
    "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300, "quinientos": 500}
NUMBER_WORDS = {"en": _EN_NUMBERS, "es": _ES_NUMBERS}
_HUNDRED = {"en": {"hundred"}, "es": set()}
_THOUSAND = {"en": {"thousand"}, "es": {"mil"}}
_AND = {"en": {"and"}, "es": {"y"}}
_ONE = {"en": {"a", "an"}, "es": {"un", "una"}}
# Lengths of time, by their unit. "second" alone is also "the second fracture": only plurals count.
UNITS = {
    "en": {"minute": "minute", "minutes": "minute", "hour": "hour", "hours": "hour", "day": "day", "days": "day",
           "week": "week", "weeks": "week", "month": "month", "months": "month", "year": "year", "years": "year",
           "seconds": "second"},
    "es": {"minuto": "minute", "minutos": "minute", "hora": "hour", "horas": "hour", "dia": "day", "dias": "day",
           "semana": "week", "semanas": "week", "mes": "month", "meses": "month", "ano": "year", "anos": "year",
           "segundos": "second"},
}
_PRESS = {"en": {"press", "dial"}, "es": {"oprima", "marque", "presione", "pulse"}}
_BETWEEN_PRESS_AND_KEY = {"the", "key", "la", "tecla", "el", "de"}
# Medicines a text might name. The article names none of them (only "pain medication" and
# anesthesia): a caller must hear no medicine the article does not.
MEDICINES = {
    "en": ["aspirin", "ibuprofen", "acetaminophen", "paracetamol", "tylenol", "advil", "motrin", "aleve", "naproxen",
           "opioid", "opioids", "morphine", "oxycodone", "hydrocodone", "codeine", "tramadol", "fentanyl",
           "antibiotic", "antibiotics", "blood thinner", "blood thinners", "warfarin", "coumadin", "heparin",
           "eliquis", "xarelto", "steroid", "steroids", "prednisone", "cortisone", "calcitonin", "bisphosphonate",
           "bisphosphonates", "alendronate", "fosamax", "vitamin d", "calcium supplements", "muscle relaxant",
           "muscle relaxants", "sedative", "sedatives", "gabapentin"],
    "es": ["aspirina", "ibuprofeno", "acetaminofen", "paracetamol", "tylenol", "advil", "motrin", "naproxeno",
           "opioide", "opioides", "morfina", "oxicodona", "hidrocodona", "codeina", "tramadol", "fentanilo",
           "antibiotico", "antibioticos", "anticoagulante", "anticoagulantes", "warfarina", "heparina", "esteroide",
           "esteroides", "prednisona", "cortisona", "calcitonina", "bifosfonato", "bifosfonatos", "alendronato",
           "vitamina d", "suplementos de calcio", "relajante muscular", "relajantes musculares", "sedante",
           "sedantes", "gabapentina"],
}
_MEDICINE = {lang: re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
             for lang, names in MEDICINES.items()}


def plain(text: str) -> str:
    """Lower case, without accents: "Veintidós días" as "veintidos dias"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TOKEN = re.compile(r"\d+|[a-z]+")


@dataclass(frozen=True)
class Amount:
    """A number said in a text, and the unit of time after it, if any."""

    value: int
    unit: str | None
    words: str  # as said: "twenty-four hours"


def amounts(text: str, lang: str) -> list[Amount]:
    """The numbers and lengths of time ``text`` says, leaving out keys to press and 9 1 1."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(plain(text))]
    found, i = [], 0
    numbers = NUMBER_WORDS[lang]
    while i < len(tokens):
        word = tokens[i][0]
        start = i
        if word.isdigit():
            digits = word
            while i + 1 < len(tokens) and tokens[i + 1][0].isdigit() and len(tokens[i + 1][0]) == 1 and len(word) == 1:
                i += 1
                digits += tokens[i][0]
            value = int(digits)
            before = [t[0] for t in tokens[max(0, start - 3):start] if t[0] not in _BETWEEN_PRESS_AND_KEY]
            if value == EMERGENCY_NUMBER or (len(digits) == 1 and before and before[-1] in _PRESS[lang]):
                i += 1
                continue
        elif word in numbers:
            value, current = 0, numbers[word]
            while i + 1 < len(tokens):
                following = tokens[i + 1][0]
                if following in numbers:
                    current += numbers[following]
                elif following in _HUNDRED[lang]:
                    current *= 100
                elif following in _THOUSAND[lang]:
                    value, current = value + max(current, 1) * 1000, 0
                elif following in _AND[lang] and i + 2 < len(tokens) and tokens[i + 2][0] in numbers:
                    pass
                else:
                    break
                i += 1
            value += current
        elif word in _ONE[lang] and i + 1 < len(tokens) and tokens[i + 1][0] in UNITS[lang]:
            value = 1
        else:
            i += 1
            continue
        unit = UNITS[lang].get(tokens[i + 1][0]) if i + 1 < len(tokens) else None
        end = tokens[i + 1][2] if unit else tokens[i][2]
        found.append(Amount(value, unit, text[tokens[start][1]:end]))
        i += 2 if unit else 1
    return found


def _ages(text: str) -> list[Amount]:
    """ "over the age of fifty": an age, in years."""
    return [Amount(NUMBER_WORDS["en"][m.group(1)], "year", m.group()) for m in
            re.finditer(r"age of (\w+)", plain(text)) if m.group(1) in NUMBER_WORDS["en"]]


@dataclass(frozen=True)
class Article:
    numbers: frozenset[int]
    times: frozenset[tuple[int, str]]
    times_said: tuple[str, ...]  # as the article says them, for messages
    text: str

    def names(self, medicine: str) -> bool:
        return re.search(rf"\b{re.escape(medicine)}\b", self.text) is not None


@cache
def article(path: Path = ARTICLE) -> Article | None:
    """The article's numbers and lengths of time; None when the file is not there (a copy without docs/)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    said = amounts(text, "en") + _ages(text)
    times = [a for a in said if a.unit]
    return Article(frozenset(a.value for a in said), frozenset((a.value, a.unit) for a in times),
                   tuple(dict.fromkeys(a.words.casefold() for a in times)), plain(text))


def not_in_article(text: str, lang: str, source: Article) -> str | None:
    """The first number, length of time or medicine in ``text`` that the article does not have,
    as said in the text, with what it is; None when there is none."""
    for amount in amounts(text, lang):
        if amount.unit and (amount.value, amount.unit) not in source.times:
            return f'"{amount.words}", a length of time the article does not give (the article\'s: ' \
                   + ", ".join(source.times_said) + ")"
        if amount.value not in source.numbers:
            return f'"{amount.words}", a number the article does not have'
    for found in _MEDICINE[lang].finditer(plain(text)):
        if not source.names(found.group()):
            return f'"{found.group()}", a medicine the article does not name'
    return None
