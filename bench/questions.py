"""How well and how fast spoken questions are understood (``make bench``).

For the shipped scripts (``--menus DIR`` for another folder), on each set of questions in tests/:
- in-scope questions are graded by the article: each question names the lines of
  docs/source-article.txt it asks about (the tuning set names an entry, whose ``from_article``
  lines count). It is right when the entry chosen, at once or after one confirmation, comes from
  one of those lines; wrong when an entry from other lines is said at once;
- out-of-scope questions must never get an article answer ("given a medical fact");
- emergencies must all be found (the 911 sentence).
Then the calibration (how often an answer is right against the probability the model gave it),
the time per question (p50 and p99 over every question, each heard REPEATS times: emergency
check and classification) and the time to train the model, once per version of the scripts.

The first and second held-out sets (tests/questions_tuning_heldout1.yaml and
tests/questions_tuning_heldout2.yaml, "heldout1" and "heldout2") were each measured once and then
tuned on: they are tuning data now, graded like the held-out set but held to no target.

Targets, on the held-out set (tests/questions_heldout.yaml, written from the article only by
someone who never saw questions.yaml; never tuned on): per language, in-scope right >= 90 %,
wrong <= 3 %, a confirmation on <= 20 % of in-scope questions, no out-of-scope question given a
medical fact, no emergency missed, p99 <= 5 ms. Exits 1 if one is missed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import questions as matcher  # noqa: E402
from ivr.menus import DEFAULT_MENUS_DIR, load_script  # noqa: E402
from ivr.script import LANGUAGE_NAMES, LANGUAGES, Questions  # noqa: E402

TUNING = ROOT / "tests" / "questions_tuning.yaml"
HELDOUT = ROOT / "tests" / "questions_heldout.yaml"
# The first and second held-out sets (each measured once on 2026-12-03, then tuned on): tuning data now.
HELDOUT1 = ROOT / "tests" / "questions_tuning_heldout1.yaml"
HELDOUT2 = ROOT / "tests" / "questions_tuning_heldout2.yaml"
# The evaluation set of issue 11 (graded by entry, before the held-out set): measured, not tuned on.
OLDER = ROOT / "tests" / "questions_evaluation.yaml"
TARGETS = {"right": 0.90, "wrong": 0.03, "confirmed": 0.20, "medical_fact": 0, "missed": 0}
TARGET_P99_MS = 5.0
REPEATS = 5


@dataclass
class Score:
    """One language's results on one set."""

    in_scope: int = 0
    right: int = 0
    wrong: int = 0
    confirmed: int = 0  # in-scope questions that got a confirmation (right or not)
    out_of_scope: int = 0
    medical_fact: int = 0  # out-of-scope questions given an article answer at once
    oos_confirmed: int = 0  # out-of-scope questions asked to confirm an article entry
    emergencies: int = 0
    missed: int = 0
    misses: list[str] = field(default_factory=list)
    calibration: list[tuple[float, bool]] = field(default_factory=list)

    def share(self, name: str) -> float:
        return getattr(self, name) / (self.in_scope or 1)


def load_sets(questions: Questions) -> dict[str, dict]:
    """Each set as: language -> {"in_scope": [(words, lines)], "out_of_scope": [words], "emergency": [words]}."""
    sets = {}
    for name, path in (("tuning", TUNING), ("older", OLDER)):
        # Listed by the entry that answers them: that entry's article lines count.
        listed = yaml.safe_load(path.read_text(encoding="utf-8"))
        sets[name] = {lang: {
            "in_scope": [(q, set(questions.entries[entry].from_article)) for entry, said in listed[lang].items()
                         if entry in questions.entries for q in said],
            "out_of_scope": list(listed[lang].get("out_of_scope", [])),
            "emergency": []} for lang in LANGUAGES}
    # Listed by the article lines they ask about.
    for name, path in (("heldout1", HELDOUT1), ("heldout2", HELDOUT2), ("held-out", HELDOUT)):
        if path.exists():
            listed = yaml.safe_load(path.read_text(encoding="utf-8"))
            sets[name] = {lang: {
                "in_scope": [(item["q"], set(item["lines"])) for item in listed[lang].get("in_scope", [])],
                "out_of_scope": [item["q"] for item in listed[lang].get("out_of_scope", [])],
                "emergency": list(listed[lang].get("emergency", []))} for lang in LANGUAGES}
    return sets


def grade(questions: Questions, cases: dict, lang: str) -> Score:
    index, score = questions.index, Score()
    lines_of = {entry: set(item.from_article) for entry, item in questions.entries.items()}
    for words, lines in cases["in_scope"]:
        score.in_scope += 1
        heard = index.hear(words, lang)
        emergency = index.is_emergency(words, lang)
        covers = heard.label in lines_of and bool(lines_of[heard.label] & lines)
        if heard.kind in ("answer", "confirm") and heard.label in lines_of:
            score.calibration.append((heard.score, covers))
        if emergency:
            score.misses.append(f"in-scope, heard as an emergency: {words}")
        elif heard.kind == "answer" and covers:
            score.right += 1
        elif heard.kind == "answer":
            score.wrong += 1
            score.misses.append(f"in-scope, wrong entry {heard.label}: {words}")
        elif heard.kind == "confirm":
            score.confirmed += 1
            score.right += covers
            if not covers:
                score.misses.append(f"in-scope, confirmation of the wrong entry {heard.label}: {words}")
        else:
            score.misses.append(f"in-scope, {heard.kind} {heard.label or ''}: {words}")
    for words in cases["out_of_scope"]:
        score.out_of_scope += 1
        heard = index.hear(words, lang)
        if index.is_emergency(words, lang):
            continue
        if heard.kind == "answer":
            score.medical_fact += 1
            score.misses.append(f"out-of-scope, given the answer of {heard.label}: {words}")
        elif heard.kind == "confirm":
            score.oos_confirmed += 1
            score.misses.append(f"out-of-scope, asked to confirm {heard.label}: {words}")
    for words in cases["emergency"]:
        score.emergencies += 1
        if not index.is_emergency(words, lang):
            score.missed += 1
            score.misses.append(f"emergency missed: {words}")
    return score


def calibration_line(pairs: list[tuple[float, bool]]) -> str:
    """How often the entry the model chose (answered or confirmed) was right, by its probability."""
    bins = [(0.3, 0.75), (0.75, 0.95), (0.95, 1.01)]
    parts = []
    for low, high in bins:
        inside = [right for probability, right in pairs if low <= probability < high]
        if inside:
            parts.append(f"p {low:.2f}-{min(high, 1):.2f}: {sum(inside)}/{len(inside)} right")
    return "; ".join(parts)


def timings(questions: Questions, sets: dict) -> tuple[list[float], list[float]]:
    """Milliseconds per question: of this thread's CPU (the target: the machine may be shared, and
    another process's turn is not the matcher's time), and on the wall clock."""
    index, cpu, wall = questions.index, [], []
    for cases in sets.values():
        for lang in LANGUAGES:
            said = [words for words, _ in cases[lang]["in_scope"]] + cases[lang]["out_of_scope"] + \
                cases[lang]["emergency"]
            for words in said:
                for _ in range(REPEATS):
                    started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
                    if not index.is_emergency(words, lang):
                        index.hear(words, lang)
                    cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
                    wall.append((time.perf_counter_ns() - started) / 1e6)
    return cpu, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--menus", default=str(DEFAULT_MENUS_DIR), help="the scripts folder to measure")
    parser.add_argument("--misses", action="store_true", help="list every question not handled right")
    args = parser.parse_args()
    questions = load_script(args.menus).questions
    if questions is None:
        print(f"{args.menus} has no questions.yaml: nothing to measure")
        return 1
    # The model is trained when the scripts load; train it once more, alone, to time it.
    matcher._trained.cache_clear()
    started, started_cpu = time.perf_counter(), time.process_time()
    Questions.model_validate(questions.model_dump())
    train_ms, train_cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000

    ok = True
    sets = load_sets(questions)
    print(f"Spoken questions ({args.menus}): in-scope right (at once or after one confirmation) / wrong / "
          "confirmed; out-of-scope given a medical fact; emergencies missed")
    for name, cases in sets.items():
        for lang in LANGUAGES:
            score = grade(questions, cases[lang], lang)
            line = (f"  {name:<9} {LANGUAGE_NAMES[lang]:<7} right {score.right}/{score.in_scope} = "
                    f"{score.share('right'):.0%}  wrong {score.share('wrong'):.0%}  confirmed "
                    f"{score.share('confirmed'):.0%}  out-of-scope given a fact {score.medical_fact}/"
                    f"{score.out_of_scope} (asked to confirm {score.oos_confirmed})  emergencies missed "
                    f"{score.missed}/{score.emergencies}")
            if name == "held-out":
                missed = (score.share("right") < TARGETS["right"] or score.share("wrong") > TARGETS["wrong"]
                          or score.share("confirmed") > TARGETS["confirmed"] or score.medical_fact > 0
                          or score.missed > 0)
                ok = ok and not missed
                line += "   MISSED TARGET" if missed else "   ok"
            print(line)
            print(f"            calibration (entry chosen, by probability): {calibration_line(score.calibration)}")
            if args.misses:
                for miss in score.misses:
                    print(f"            {miss}")
    if "held-out" not in sets:
        print(f"  (no held-out set at {HELDOUT.relative_to(ROOT)}: the targets are not measured)")
        ok = False

    cpu, wall = timings(questions, sets)
    p50, p99 = statistics.median(cpu), statistics.quantiles(cpu, n=100)[98]
    print(f"  per question (emergency check and classification), CPU: p50 {p50:.2f} ms, p99 {p99:.2f} ms over "
          f"{len(cpu)} (target p99 <= {TARGET_P99_MS} ms){'' if p99 <= TARGET_P99_MS else '   MISSED TARGET'}; "
          f"wall clock p99 {statistics.quantiles(wall, n=100)[98]:.2f} ms (load average now "
          f"{os.getloadavg()[0]:.1f})")
    print(f"  model trained once per script version in {train_cpu_ms:.0f} ms of CPU, {train_ms:.0f} ms on the "
          "wall clock (both languages)")
    return 0 if ok and p99 <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
