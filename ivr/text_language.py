"""Which language a text the line speaks is in: English or Spanish, or unsure.

check uses it so a caller who chose Spanish never hears an English text left untranslated (and
the other way round). lingua (lingua-language-detector) ships its models, works offline and is
built for short texts; only English and Spanish are loaded, in its low-accuracy mode, which is
enough for two languages this far apart and loads in a fraction of the time. The detector is built
once per process, when check first needs it.
"""
from __future__ import annotations

import re
from functools import cache, lru_cache

from lingua import Language, LanguageDetectorBuilder

LINGUA = {"en": Language.ENGLISH, "es": Language.SPANISH}
# Names said the same in both languages: never evidence of either. Matched as whole words,
# ignoring upper/lower case (longer names first).
NAMES = ("Dallas Pain Relief Center", "Pain Relief Centers", "Pain Relief Center", "Dallas-Fort Worth",
         "Fort Worth", "Dallas", "Dr. Rodriguez", "Rodriguez", "Kyphoplasty", "Medicare", "Medicaid", "M R I",
         "MRI")
_NAMES = re.compile(r"\b(?:" + "|".join(re.escape(name) for name in NAMES) + r")\b", re.IGNORECASE)
# {time}, {opening} ...: filled in by the line, in the right language.
_PLACEHOLDER = re.compile(r"{\w*}")
_LETTER_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Fewer words than this (names and numbers aside) say too little to tell the language.
MIN_WORDS = 3
# How sure lingua must be that a text is in the other language before check calls it a mistake.
SURE = 0.9
# Words that are never in a text of the other language: one is enough, however short the text.
GIVE_AWAY = {
    "en": re.compile(r"\b(?:oprima|usted|por favor|gracias|cuelgue)\b", re.IGNORECASE),
    "es": re.compile(r"\b(?:press|please|the|thank you|you|your|hang up)\b", re.IGNORECASE),
}


# The small words of each language (none spelt the same in the other): lingua's low-accuracy mode
# can misjudge a short example with few of them ("la osteoporosis es la causa"), so a text is in the
# other language only when its small words do not say otherwise.
SMALL_WORDS = {
    "en": frozenset("the is it to of and i my you your can what how do does will after with for this that are be "
                    "have has when if on in at or not should there an was were".split()),
    "es": frozenset("el la los las de del que qué es y mi mis se su sus usted por para con una un en lo le les al "
                    "cómo cuándo puedo puede hay este esta muy más pero si sí".split()),
}


@cache
def _detector():
    return (LanguageDetectorBuilder.from_languages(*LINGUA.values()).with_low_accuracy_mode()
            .with_preloaded_language_models().build())


def without_names(text: str) -> str:
    return _PLACEHOLDER.sub(" ", _NAMES.sub(" ", text))


def words(text: str) -> list[str]:
    """The words of ``text`` that can tell its language: no names, numbers or placeholders."""
    return _LETTER_WORD.findall(without_names(text))


@lru_cache(maxsize=4096)  # the same texts again at each reload of the scripts
def language_of(text: str) -> str | None:
    """"en" or "es" when lingua is sure of it, None when the text is too short or unsure."""
    plain = without_names(text)
    found = [word.casefold() for word in _LETTER_WORD.findall(plain)]
    if len(found) < MIN_WORDS:
        return None
    small = {lang: sum(word in small_words for word in found) for lang, small_words in SMALL_WORDS.items()}
    for confidence in _detector().compute_language_confidence_values(plain):
        if confidence.value >= SURE:
            lang = next(each for each, language in LINGUA.items() if language == confidence.language)
            other = next(each for each in LINGUA if each != lang)
            return lang if small[lang] >= small[other] else None
    return None


def other_language_word(text: str, lang: str) -> str | None:
    """A word of the other language that is never in a ``lang`` text ("press" in Spanish), or None."""
    found = GIVE_AWAY[lang].search(without_names(text))
    return found.group() if found else None
