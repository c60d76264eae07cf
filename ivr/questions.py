"""Answer a caller's spoken question with one entry of ivr/menus/questions.yaml, or with none.

How a question is matched, in one language:
- words are folded (lower case, no accents or punctuation), fillers dropped ("um", "este"), and
  words speech recognition got slightly wrong ("kypho plastic", "ciphoplasty") replaced by the
  closest word of the examples (rapidfuzz, only for long words and close spellings);
- each word is reduced to its stem (snowballstemmer: "lifting", "lift" -> "lift") and weighted by
  how rare it is among the examples (TF-IDF), so "lift" counts and "can I" hardly does;
- a question with one of the ``not_answered`` words ("cost", "insurance") is not answered;
- otherwise the caller's words are compared with every example question by cosine similarity;
  the entry of the closest example answers if the similarity reaches THRESHOLD and that example
  is not one of the questions the line must not answer (``not_answered``: "should I have it").

Emergency words are looked for before anything else. The index is built once per version of the
scripts (``QuestionIndex(...)`` when they load), never per call; matching one question takes
well under a millisecond (``make bench``).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import snowballstemmer
from rapidfuzz import fuzz, process

# Set on tests/questions_tuning.yaml (never on the evaluation set): the lowest similarity at which
# an answer is given. Below it the caller hears no_answer, with the clinic.
THRESHOLD = 0.45
NOT_ANSWERED = "not_answered"
UNANSWERED = "unanswered"  # what the call log records when no entry answered
# Speech-recognition slips are only repaired in stems this long, and only this close (0-100).
REPAIR_MIN_LENGTH = 6
REPAIR_MIN_SIMILARITY = 80
STEMMERS = {"en": "english", "es": "spanish"}
# Hints for Twilio's speech recognition: this many words of the examples, each this long at least.
MAX_HINTS, HINT_MIN_LENGTH = 80, 7
# Little words that say little about what is asked ("the", "de"): counted, but lightly, so that a
# question is matched by its content words. Question words (when, where, cuándo) are not here.
LIGHT_WORDS = {
    "en": set("a an the i im me my mine you your it its is are am was be been being do does did will would "
              "can could should shall may might must have has had to of in on at for with from by about and or "
              "but if this that these those there they them their he she his her we us our so just get got "
              "gonna going want wanna".split()),
    "es": set("el la los las lo un una unos unas yo me mi mis tu su sus usted ustedes le les se nos es son "
              "soy esta estoy estan ser estar voy va van a de del en con por para que y o pero si ya eso esto "
              "esa ese este esta estas estos al tengo tiene hay puedo puede pueden".split()),
}
LIGHT_WEIGHT = 0.3
# Sounds people make while they think: dropped wherever they are.
HESITATIONS = {
    "en": set("um umm uh uhh er erm hmm ah oh really actually exactly basically".split()),
    "es": set("eh em mm este ah oh ay exactamente realmente".split()),
}
# Ways people start talking on the phone: dropped at the start only ("well" and "bueno" mean
# something later on: "is the doctor bueno").
OPENERS = {
    "en": ["so", "well", "okay", "ok", "yeah", "yes", "hello", "hi", "hey", "please", "sorry", "maam", "miss",
           "sir", "and", "but", "good morning", "good afternoon", "you know", "i mean", "i was wondering",
           "i wanted to ask", "i have a question", "let me ask you", "can you tell me", "could you tell me",
           "tell me", "i would like to know", "id like to know", "i want to know"],
    "es": ["pues", "bueno", "mire", "oiga", "ok", "okey", "si", "hola", "senorita", "senora", "joven", "mija",
           "mijo", "perdon", "disculpe", "y", "o sea", "buenos dias", "buenas tardes", "buenas noches",
           "por favor", "una pregunta", "tengo una pregunta", "le quiero preguntar", "quisiera saber",
           "quiero saber", "me puede decir", "me podria decir", "digame"],
}
# A pair of words in a row ("mi seguro", insurance; "es seguro", safe) counts this much of what
# its words count, so word order helps without outweighing the words.
PAIR_WEIGHT = 0.5


def fold(text: str) -> str:
    """Lower case, no accents, apostrophes joined ("can't" -> "cant"), other punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("'", "").replace("\u2019", ""))
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


@dataclass(frozen=True)
class Answer:
    """What matching found: an entry id, or None; ``score`` is the similarity (0 to 1)."""

    entry: str | None
    score: float
    closest: str | None  # the closest example's entry (or NOT_ANSWERED), even below THRESHOLD


class _Language:
    """The index of one language's examples."""

    def __init__(self, lang: str, examples: list[tuple[str, str]], declining: list[str], emergency: list[str],
                 same_words: list[list[str]] = ()):
        self.lang = lang
        self.stemmer = snowballstemmer.stemmer(STEMMERS[lang])
        self._stems: dict[str, str] = {}
        self._hesitations = HESITATIONS[lang]
        openers = sorted((fold(o) for o in OPENERS[lang]), key=lambda o: -len(o))
        self._openers = re.compile(r"^(?:(?:" + "|".join(re.escape(o) for o in openers) + r")(?: |$))+")
        # Words the line knows, which speech-recognition repairs never change.
        self.known_stems = sorted({stem for text in [text for _, text in examples] + declining + emergency
                                   + [words for group in same_words for words in group]
                                   for stem in self._stemmed(self._plain(text))})
        self._known = set(self.known_stems)
        # Words callers use for the same thing all count as the first of their group.
        self._same: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for group in same_words:
            canonical = "=" + fold(group[0])
            for words in group:
                stems = tuple(self._stemmed(fold(words).split()))
                if stems:
                    self._same.setdefault(stems[0], []).append((stems, canonical))
        for variants in self._same.values():
            variants.sort(key=lambda variant: -len(variant[0]))  # "pick up" before "pick"
        documents = [self._features(self._canonical(self._stemmed(self._plain(text)))) for _, text in examples]
        self.labels = [label for label, _ in examples]
        self.light = light = set(self._stemmed(sorted(LIGHT_WORDS[lang])))
        df = Counter(stem for document in documents for stem in document)
        count = len(documents)
        self.idf = {}
        for feature, n in df.items():
            weight = math.log((1 + count) / (1 + n)) + 1
            for stem in feature.split():
                weight *= LIGHT_WEIGHT if stem in light else 1
            self.idf[feature] = weight * (PAIR_WEIGHT if " " in feature else 1)
        self.unknown_weight = math.log(1 + count) + 1
        self.postings: dict[str, list[tuple[int, float]]] = {}
        self.norms = []
        for i, document in enumerate(documents):
            weights = {stem: tf * self.idf[stem] for stem, tf in document.items()}
            self.norms.append(math.sqrt(sum(w * w for w in weights.values())) or 1.0)
            for stem, weight in weights.items():
                self.postings.setdefault(stem, []).append((i, weight))
        # Words for the speech recogniser to expect (Twilio's hints): the long words of the examples,
        # as written ("osteoporosis", "cifoplastia"), the most used first.
        said = Counter(word for label, text in examples if label != NOT_ANSWERED
                       for word in re.findall(r"\w+", text.casefold()) if len(word) >= HINT_MIN_LENGTH)
        self.hints = [word for word, _ in said.most_common(MAX_HINTS)]
        self.declining = self._phrases(declining)
        self.emergency = self._phrases(emergency)

    def _phrases(self, phrases: list[str]) -> dict[str, list[tuple[str, ...]]]:
        """Stemmed phrases by their first stem, for _contains."""
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            stems = tuple(self._stemmed(fold(phrase).split()))
            if stems:
                by_first.setdefault(stems[0], []).append(stems)
        return by_first

    def _stemmed(self, words: list[str]) -> list[str]:
        stems = self._stems
        out = []
        for word in words:
            stem = stems.get(word)
            if stem is None:
                stem = stems[word] = self.stemmer.stemWord(word)
            out.append(stem)
        return out

    def _plain(self, text: str) -> list[str]:
        words = [word for word in fold(text).split() if word not in self._hesitations]
        return self._openers.sub("", " ".join(words)).split()

    def _canonical(self, stems: list[str]) -> list[str]:
        """Stems with each same_words phrase replaced by its group's first word."""
        out, i = [], 0
        while i < len(stems):
            for variant, canonical in self._same.get(stems[i], ()):
                if tuple(stems[i:i + len(variant)]) == variant:
                    out.append(canonical)
                    i += len(variant)
                    break
            else:
                out.append(stems[i])
                i += 1
        return out

    def _features(self, stems: list[str]) -> Counter:
        """Each stem, and each pair of stems in a row."""
        return Counter(stems) + Counter(f"{a} {b}" for a, b in zip(stems, stems[1:]))

    def _repaired_stems(self, words: list[str]) -> list[str]:
        """The stems of ``words``, each unknown long one replaced by the closest known stem
        ("paralizada" -> "paralit", as in "paralítica"); two unknown words that make one known
        word together ("kypho plastic") joined."""
        stems = self._stemmed(words)
        out, i = [], 0
        while i < len(stems):
            stem = stems[i]
            if stem in self._known:
                out.append(stem)
                i += 1
                continue
            if i + 1 < len(stems) and stems[i + 1] not in self._known:
                joined = self._closest(self._stemmed([words[i] + words[i + 1]])[0])
                if joined:
                    out.append(joined)
                    i += 2
                    continue
            out.append(self._closest(stem) or stem)
            i += 1
        return out

    def _closest(self, stem: str) -> str | None:
        if len(stem) < REPAIR_MIN_LENGTH:
            return None
        found = process.extractOne(stem, self.known_stems, scorer=fuzz.ratio, score_cutoff=REPAIR_MIN_SIMILARITY)
        return found[0] if found else None

    def _weight(self, feature: str) -> float:
        """A feature's weight; a word no example has counts against a match as much as the rarest
        word (a pair of known words in a new order counts for nothing)."""
        if feature in self.idf:
            return self.idf[feature]
        if " " in feature:
            return 0.0
        return self.unknown_weight * (LIGHT_WEIGHT if feature in self.light else 1)

    def is_emergency(self, text: str) -> bool:
        return _contains(self._stemmed(fold(text).split()), self.emergency)

    def closest(self, text: str) -> tuple[str | None, float]:
        """The label of the most similar example and the similarity (0 to 1)."""
        stems = self._repaired_stems(self._plain(text))
        if not stems:
            return None, 0.0
        if _contains(stems, self.declining):
            return NOT_ANSWERED, 1.0
        query = self._features(self._canonical(stems))
        weights = {feature: tf * self._weight(feature) for feature, tf in query.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        dots: dict[int, float] = {}
        for stem, weight in weights.items():
            for i, example_weight in self.postings.get(stem, ()):
                dots[i] = dots.get(i, 0.0) + weight * example_weight
        if not dots:
            return None, 0.0
        best = max(dots, key=lambda i: dots[i] / self.norms[i])
        return self.labels[best], dots[best] / (self.norms[best] * norm)


def _contains(stems: list[str], phrases: dict[str, list[tuple[str, ...]]]) -> bool:
    """Whether the stems contain one of the phrases, word for word."""
    for i, stem in enumerate(stems):
        for phrase in phrases.get(stem, ()):
            if tuple(stems[i:i + len(phrase)]) == phrase:
                return True
    return False


class QuestionIndex:
    """Every entry's example questions, ready to match, in each language.

    ``entries``: entry id -> language -> example questions. ``not_answered``: language -> questions
    the line must not answer; ``declining``: language -> words that mark such a question ("cost");
    ``emergency``: language -> words that sound like an emergency; ``same_words``: language ->
    groups of words callers use for the same thing ("lift", "carry", "pick up").
    """

    def __init__(self, entries: dict[str, dict[str, list[str]]], not_answered: dict[str, list[str]],
                 declining: dict[str, list[str]], emergency: dict[str, list[str]],
                 same_words: dict[str, list[list[str]]] | None = None, threshold: float = THRESHOLD):
        self.threshold = threshold
        languages = {lang for entry in entries.values() for lang in entry} | set(not_answered)
        self._by_lang = {
            lang: _Language(lang, [(entry, text) for entry, texts in entries.items() for text in texts.get(lang, [])]
                            + [(NOT_ANSWERED, text) for text in not_answered.get(lang, [])],
                            declining.get(lang, []), emergency.get(lang, []), (same_words or {}).get(lang, []))
            for lang in languages
        }

    def is_emergency(self, text: str, lang: str) -> bool:
        return lang in self._by_lang and self._by_lang[lang].is_emergency(text)

    def hints(self, lang: str) -> list[str]:
        """Words of the examples for the speech recogniser to expect in ``lang``."""
        return self._by_lang[lang].hints if lang in self._by_lang else []

    def answer(self, text: str, lang: str) -> Answer:
        if lang not in self._by_lang:
            return Answer(None, 0.0, None)
        label, score = self._by_lang[lang].closest(text)
        confident = score >= self.threshold and label not in (None, NOT_ANSWERED)
        return Answer(label if confident else None, score, label)

    def match(self, text: str, lang: str) -> str | None:
        """The id of the entry that answers ``text``, or None (no confident match)."""
        return self.answer(text, lang).entry
