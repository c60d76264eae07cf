"""What a caller's spoken words are: an emergency, noise, the other language, or a question for
one entry of ivr/menus/questions.yaml (or for one kind of question the article does not answer).

Emergencies (``Emergencies``) are matched by concept, not by phrase: a concept is a few groups of
words ("chest + pain / pressure / tight"), and it is found when every group has one of its words
anywhere in what was said, in any order, among any other words. Words match from their start
("breath" also matches "breathing") or by a close spelling (speech-recognition slips). A false
alarm is acceptable; a miss is not.

Questions are classified by a model trained from the examples in questions.yaml when the scripts
load (scikit-learn: a linear classifier over character n-grams and word stems, its scores
calibrated into probabilities; ``make bench`` checks the calibration). Out-of-scope kinds (cost, appointments, the caller's
own medicines or health, symptoms) are classes of their own, so "can I take tramadol" is pulled
towards "medicines" rather than towards the closest article answer. Then confidence bands:
- high, and well ahead of the next entry: the answer;
- middle, or two entries close: one confirmation ("Did you ask about ...?");
- low: no answer, the clinic offered.
Staff fix a miss by adding an example to the YAML; the model is trained again on the next load.

Training takes a few hundred milliseconds at most and happens once per version of the examples
(``_trained`` caches it by their content), never per call; classifying one question takes about
a millisecond (``make bench``).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import snowballstemmer
from rapidfuzz import fuzz, process
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

# The bands, set by cross-validation on questions.yaml's own examples and checked on
# tests/questions_tuning.yaml (never on the held-out set): few wrong answers first, then few
# confirmations. An entry is answered
# when its probability reaches HIGH and leads the next label by MARGIN; from LOW the caller is
# asked to confirm it; below LOW (or when the model leans to "not answered") the clinic is offered.
HIGH = 0.75
MARGIN = 0.5
LOW = 0.4
# The model: a linear support-vector classifier (one label against the rest, fast to train), its
# scores turned into probabilities by a softmax at this temperature (temperature scaling: the one
# that fits the examples best in five-fold cross-validation, by log-loss; make bench prints how
# often answers given at each probability were right).
SVM_C = 0.5
TEMPERATURE = 5.0
NOT_ANSWERED = "not_answered"
UNANSWERED = "unanswered"  # what the call log records when no entry answered
STEMMERS = {"en": "english", "es": "spanish"}
# Emergency words this long also match a close spelling ("breath" / "breth").
FUZZY_MIN_LENGTH = 6
FUZZY_MIN_SIMILARITY = 85
# Words this short match only themselves ("no" is not "normal", "i" is not "is").
EXACT_MAX_LENGTH = 2
# Hints for Twilio's speech recognition: this many words of the examples, each this long at least.
MAX_HINTS, HINT_MIN_LENGTH = 80, 7
# Sounds people make while they think: dropped wherever they are.
HESITATIONS = {
    "en": set("um umm uh uhh er erm hmm hm mm mhm ah oh really actually exactly basically".split()),
    "es": set("eh em mm mhm este ah oh ay exactamente realmente".split()),
}
# Ways people start talking on the phone: dropped at the start only ("well" and "bueno" mean
# something later on: "is the doctor bueno").
OPENERS = {
    "en": ["so", "well", "okay", "ok", "yeah", "yes", "yep", "hello", "hi", "hey", "please", "sorry", "maam",
           "miss", "sir", "and", "but", "good morning", "good afternoon", "you know", "i mean", "i was wondering",
           "i wanted to ask", "i have a question", "let me ask you", "can you tell me", "could you tell me",
           "tell me", "i would like to know", "id like to know", "i want to know", "alright", "all right"],
    "es": ["pues", "bueno", "mire", "oiga", "ok", "okey", "si", "hola", "senorita", "senora", "joven", "mija",
           "mijo", "perdon", "disculpe", "y", "o sea", "buenos dias", "buenas tardes", "buenas noches",
           "por favor", "una pregunta", "tengo una pregunta", "le quiero preguntar", "quisiera saber",
           "quiero saber", "me puede decir", "me podria decir", "digame", "aja", "orale", "andale", "sale"],
}
# Words that carry no question when said alone ("uh huh", "okay", "thank you"): noise.
NOISE = {
    "en": set("uh huh okay ok yes yeah yep no nope alright right sure thanks thank you hello hi hey bye goodbye "
              "what huh sorry please wait hold on one moment minute".split()),
    "es": set("aja si no ok okey bueno gracias muchas hola adios bye que mande perdon este pues espere "
              "momento un una sale orale andale ya".split()),
}
# Little words of each language, for telling which language a caller speaks (with the examples'
# own words): a question in the other language has several of its words and none of these.
LITTLE_WORDS = {
    "en": set("the is are what how when where why who which can could will would should do does did i my you "
              "your it its of to in on at for with after before about and or if this that they them have has "
              "get go be am me there much many long".split()),
    "es": set("el la los las que como cuando donde por porque quien cual puedo puede voy va usted mi mis "
              "es son de del en con para despues antes sobre y o si este esta eso ellos tengo tiene hay "
              "cuanto cuanta cuantos mucho muy le lo se me".split()),
}
# Words the two languages share, which say nothing about which one is spoken.
SHARED_WORDS = {"a", "no", "me", "mi", "si", "un", "y", "o", "es", "son", "de", "en", "con", "ok", "okay",
                "medicare", "medicaid", "osteoporosis", "x", "mri", "dallas", "911", "9", "1"}


def fold(text: str) -> str:
    """Lower case, no accents, apostrophes joined ("can't" -> "cant"), other punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("'", "").replace("\u2019", ""))
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


@dataclass(frozen=True)
class Match:
    """What the words are. ``kind``: "answer" (say ``label``'s answer), "confirm" (ask whether the
    caller asked about ``label``), "out_of_scope" (``label`` is a kind the article does not answer),
    "none" (no answer: the clinic), "noise" or "other_language". ``score``: the label's probability."""

    kind: str
    label: str | None = None
    score: float = 0.0

    @property
    def entry(self) -> str | None:
        """The entry answered at once, or None."""
        return self.label if self.kind == "answer" else None


# -- emergencies ---------------------------------------------------------------------------------


class Emergencies:
    """Concepts ("chest + pain / pressure"), each found when every group has a word in what was said.

    A word of a concept matches a said word that starts with it ("bleed": "bleeding") or, when it
    is FUZZY_MIN_LENGTH long, one spelled closely; a word of EXACT_MAX_LENGTH letters or fewer
    ("no") only itself. A group's alternative of several words ("can't move") matches those words
    in a row.
    """

    def __init__(self, concepts: list[str]):
        self.concepts = [[[tuple(fold(alternative).split()) for alternative in group.split("/") if fold(alternative)]
                          for group in concept.split("+")] for concept in concepts]
        # Each group as its single words (looked up in a set) and its phrases of several words.
        self._groups = [[({a[0] for a in group if len(a) == 1}, [a for a in group if len(a) > 1]) for group in concept]
                        for concept in self.concepts]
        self._long = sorted({word for concept in self._groups for singles, _ in concept for word in singles
                             if len(word) >= FUZZY_MIN_LENGTH})
        self._long_lengths = np.array([len(word) for word in self._long])
        # The same words are looked at again and again (check looks at every example whenever the
        # scripts load): remembered, as the concepts do not change.
        self.find = lru_cache(maxsize=16384)(self._find)

    def _find(self, text: str) -> str | None:
        """The first concept found in ``text`` (as written in the YAML), or None."""
        words = fold(text).split()
        if not words:
            return None
        said = {word[:end] for word in words for end in range(EXACT_MAX_LENGTH + 1, len(word) + 1)}
        said |= {word for word in words if len(word) <= EXACT_MAX_LENGTH}
        said |= self._close(words)
        for concept, groups in zip(self.concepts, self._groups):
            if all(not singles.isdisjoint(said) or any(
                    said.issuperset(phrase) and self._in_a_row(phrase, words) for phrase in phrases)
                   for singles, phrases in groups):
                return " + ".join(" / ".join(" ".join(a) for a in group) for group in concept)
        return None

    def _close(self, words: list[str]) -> set[str]:
        """Concept words said with a close spelling: against the start of a said word, as long as
        the concept word or one letter shorter ("breth" for "breath")."""
        starts = sorted({word[:end] for word in words for end in range(FUZZY_MIN_LENGTH - 1, len(word) + 1)})
        if not starts or not self._long:
            return set()
        similar = process.cdist(self._long, starts, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SIMILARITY)
        lengths = np.array([len(start) for start in starts])
        near = np.abs(self._long_lengths[:, None] - lengths[None, :]) <= 1
        return {self._long[i] for i in np.flatnonzero(((similar > 0) & near).any(axis=1))}

    @staticmethod
    def _in_a_row(phrase: tuple[str, ...], words: list[str]) -> bool:
        return any(all(_starts(said, part) for said, part in zip(words[i:i + len(phrase)], phrase))
                   for i in range(len(words) - len(phrase) + 1))


def _starts(said: str, word: str) -> bool:
    """Whether a said word is ``word`` or a longer word starting with it (short words: only itself)."""
    return said == word if len(word) <= EXACT_MAX_LENGTH else said.startswith(word)


# -- one language's model ------------------------------------------------------------------------


class _Language:
    """The classifier of one language's examples, and the words around it."""

    def __init__(self, lang: str, examples: list[tuple[str, str]], refusals: dict[str, list[str]],
                 emergencies: list[str], same_words: list[list[str]], out_of_scope: set[str]):
        self.lang = lang
        self.stemmer = snowballstemmer.stemmer(STEMMERS[lang])
        self._stems: dict[str, str] = {}
        self._hesitations = HESITATIONS[lang]
        openers = sorted((fold(o) for o in OPENERS[lang]), key=lambda o: -len(o))
        self._openers = re.compile(r"^(?:(?:" + "|".join(re.escape(o) for o in openers) + r")(?: |$))+")
        self.out_of_scope = out_of_scope
        self.emergencies = Emergencies(emergencies)
        # Refusal words are matched as written (folded, whole words), never stemmed: "medicaid" and
        # "médico" share a stem.
        self.refusals = [(label, f" {fold(words)} ") for label, phrases in refusals.items() for words in phrases
                         if fold(words)]
        self._same: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for group in same_words:
            canonical = "=" + fold(group[0])
            for words in group:
                stems = tuple(self._stemmed(fold(words).split()))
                if stems:
                    self._same.setdefault(stems[0], []).append((stems, canonical))
        for variants in self._same.values():
            variants.sort(key=lambda variant: -len(variant[0]))  # "pick up" before "pick"
        self.vocabulary = {word for _, text in examples for word in fold(text).split()} | LITTLE_WORDS[lang]
        said = {}
        for label, text in examples:
            if label not in out_of_scope and label != NOT_ANSWERED:
                for word in re.findall(r"\w+", text.casefold()):
                    if len(word) >= HINT_MIN_LENGTH:
                        said[word] = said.get(word, 0) + 1
        self.hints = sorted(said, key=lambda word: -said[word])[:MAX_HINTS]
        self._train(examples)

    # -- words ---------------------------------------------------------------------------------
    def plain(self, text: str) -> list[str]:
        """Folded words without hesitations, and without the phrases callers open with."""
        words = [word for word in fold(text).split() if word not in self._hesitations]
        return self._openers.sub("", " ".join(words)).split()

    def _stemmed(self, words: list[str]) -> list[str]:
        stems = self._stems
        out = []
        for word in words:
            stem = stems.get(word)
            if stem is None:
                stem = stems[word] = self.stemmer.stemWord(word)
            out.append(stem)
        return out

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

    def _word_features(self, words: list[str]) -> list[str]:
        stems = self._canonical(self._stemmed(words))
        return stems + [f"{a} {b}" for a, b in zip(stems, stems[1:])]

    # -- the model -----------------------------------------------------------------------------
    def _train(self, examples: list[tuple[str, str]]) -> None:
        texts = [self.plain(text) for _, text in examples]
        self.words = TfidfVectorizer(analyzer=self._word_features, sublinear_tf=True)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        features = hstack([self.words.fit_transform(texts), self.chars.fit_transform([" ".join(t) for t in texts])])
        self.model = LinearSVC(C=SVM_C, random_state=0).fit(features, [label for label, _ in examples])
        self.labels = [str(label) for label in self.model.classes_]
        # For scoring one question without scikit-learn's per-call checks (they cost ~10 ms; the
        # arithmetic is the same, and tests/test_questions.py compares the two).
        self._weights = np.ascontiguousarray(self.model.coef_.T)  # feature -> one weight per label
        self._offset = len(self.words.vocabulary_)
        self._analyzers = ((self.words, self.words.build_analyzer(), 0),
                           (self.chars, self.chars.build_analyzer(), self._offset))

    def scores(self, words: list[str]) -> np.ndarray:
        """The model's score for each label (as ``model.decision_function``): each vectorizer's
        sublinear TF-IDF, normalised, times the weights."""
        total = self.model.intercept_.copy()
        for vectorizer, analyzer, offset, doc in ((*self._analyzers[0], words),
                                                  (*self._analyzers[1], " ".join(words))):
            counts: dict[int, int] = {}
            vocabulary = vectorizer.vocabulary_
            for term in analyzer(doc):
                index = vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts, dtype=np.intp, count=len(counts))
            values = (np.log(np.fromiter(counts.values(), dtype=float, count=len(counts))) + 1) * vectorizer.idf_[indices]
            values /= np.sqrt(values @ values)
            total += values @ self._weights[indices + offset]
        return total

    def probabilities(self, words: list[str]) -> list[tuple[str, float]]:
        """Every label with its probability, the likeliest first: the model's scores, calibrated
        by TEMPERATURE into probabilities (softmax)."""
        scores = self.scores(words) * TEMPERATURE
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        order = np.argsort(-probabilities)
        return [(self.labels[i], float(probabilities[i])) for i in order]

    # -- what the words are --------------------------------------------------------------------
    def refused(self, words: list[str]) -> str | None:
        said = f" {' '.join(words)} "
        return next((label for label, phrase in self.refusals if phrase in said), None)

    def is_noise(self, words: list[str]) -> bool:
        return all(word in NOISE[self.lang] for word in words)

    def hear(self, text: str, other: _Language | None) -> Match:
        words = self.plain(text)
        if self.is_noise(words):
            return Match("noise")
        if refused := self.refused(words):
            return Match("out_of_scope", refused, 1.0)
        if other is not None and self.sounds_like(words, other):
            return Match("other_language")
        (label, score), (_, second) = self.probabilities(words)[:2]
        if label == NOT_ANSWERED or score < LOW:
            return Match("none", label, score)
        if label in self.out_of_scope:
            return Match("out_of_scope", label, score)
        if score >= HIGH and score - second >= MARGIN:
            return Match("answer", label, score)
        return Match("confirm", label, score)

    def sounds_like(self, words: list[str], other: _Language) -> bool:
        """Whether the words are the other language's: at least two of its words, none of this one's."""
        mine = sum(word in self.vocabulary and word not in other.vocabulary and word not in SHARED_WORDS
                   for word in words)
        theirs = sum(word in other.vocabulary and word not in self.vocabulary and word not in SHARED_WORDS
                     for word in words)
        return theirs >= 2 and mine == 0


@lru_cache(maxsize=8)
def _trained(key: str, lang: str, examples: tuple, refusals: tuple, emergencies: tuple, same_words: tuple,
             out_of_scope: frozenset) -> _Language:
    """One language's model, trained once per version of its examples (``key`` is their digest)."""
    return _Language(lang, list(examples), {label: list(words) for label, words in refusals}, list(emergencies),
                     [list(group) for group in same_words], set(out_of_scope))


class QuestionIndex:
    """Every entry's example questions, ready to classify, in each language.

    ``entries``: label -> language -> example questions (article entries, out-of-scope kinds and
    NOT_ANSWERED); ``out_of_scope``: the labels that are out-of-scope kinds; ``refusals``: label ->
    language -> words that mark that kind ("medicare"); ``emergency``: language -> concepts;
    ``same_words``: language -> groups of words callers use for the same thing.
    """

    def __init__(self, entries: dict[str, dict[str, list[str]]], out_of_scope: set[str],
                 refusals: dict[str, dict[str, list[str]]], emergency: dict[str, list[str]],
                 same_words: dict[str, list[list[str]]] | None = None):
        languages = sorted({lang for texts in entries.values() for lang in texts})
        self._by_lang = {}
        for lang in languages:
            examples = tuple((label, text) for label, texts in entries.items() for text in texts.get(lang, []))
            words = tuple((label, tuple(by_lang.get(lang, []))) for label, by_lang in refusals.items())
            concepts = tuple(emergency.get(lang, []))
            groups = tuple(tuple(group) for group in (same_words or {}).get(lang, []))
            key = hashlib.sha256(repr((examples, words, concepts, groups, sorted(out_of_scope))).encode()).hexdigest()
            self._by_lang[lang] = _trained(key, lang, examples, words, concepts, groups, frozenset(out_of_scope))

    @property
    def languages(self) -> list[str]:
        return list(self._by_lang)

    def emergency(self, text: str, lang: str | None) -> str | None:
        """The emergency concept in ``text`` (in every language when ``lang`` is None), or None."""
        for each in [lang] if lang else self._by_lang:
            if each in self._by_lang and (found := self._by_lang[each].emergencies.find(text)):
                return found
        return None

    def is_emergency(self, text: str, lang: str | None) -> bool:
        return self.emergency(text, lang) is not None

    def hints(self, lang: str) -> list[str]:
        """Words of the examples for the speech recogniser to expect in ``lang``."""
        return self._by_lang[lang].hints if lang in self._by_lang else []

    def hear(self, text: str, lang: str) -> Match:
        """What ``text`` is, said in ``lang`` (emergencies aside: see ``emergency``)."""
        if lang not in self._by_lang:
            return Match("none")
        other = next((self._by_lang[each] for each in self._by_lang if each != lang), None)
        return self._by_lang[lang].hear(text, other)

    def probabilities(self, text: str, lang: str) -> list[tuple[str, float]]:
        """Every label with its probability, the likeliest first (for check and the bench)."""
        language = self._by_lang[lang]
        return language.probabilities(language.plain(text))

    def match(self, text: str, lang: str) -> str | None:
        """The id of the entry answered at once, or None."""
        return self.hear(text, lang).entry
