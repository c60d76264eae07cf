"""How well and how fast spoken questions are matched (``make bench``).

For the shipped scripts (``--menus DIR`` for another folder), on the tuning set and on the
evaluation set in tests/: the share of questions answered with the right entry, and how many
out-of-scope questions got an answer (they must get none). Then the matcher's time per question
(p50 and p99 over every question of both sets, each matched REPEATS times) and the time to
build the index, which happens once per version of the scripts.

Targets (on the evaluation set): at least 90 % right in each language, no out-of-scope question
answered, p99 at most 2 ms. Exits 1 if one is missed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.menus import DEFAULT_MENUS_DIR, load_script  # noqa: E402
from ivr.questions import QuestionIndex  # noqa: E402
from ivr.script import LANGUAGE_NAMES, LANGUAGES  # noqa: E402

SETS = {"tuning": ROOT / "tests" / "questions_tuning.yaml",
        "evaluation": ROOT / "tests" / "questions_evaluation.yaml"}
OUT_OF_SCOPE = "out_of_scope"
TARGET_RIGHT, TARGET_P99_MS = 0.90, 2.0
REPEATS = 20


def score(index: QuestionIndex, cases: dict) -> dict[str, tuple[int, int, int, int]]:
    """Per language: (right, in-scope questions, out-of-scope answered, out-of-scope questions)."""
    results = {}
    for lang in LANGUAGES:
        right = total = answered = out = 0
        for expected, questions in cases[lang].items():
            for question in questions:
                entry = index.match(question, lang)
                if expected == OUT_OF_SCOPE:
                    out += 1
                    answered += entry is not None
                else:
                    total += 1
                    right += entry == expected
        results[lang] = (right, total, answered, out)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--menus", default=str(DEFAULT_MENUS_DIR), help="the scripts folder to measure")
    args = parser.parse_args()
    questions = load_script(args.menus).questions
    if questions is None:
        print(f"{args.menus} has no questions.yaml: nothing to measure")
        return 1
    index = questions.index
    # The index is built when the scripts load; build it once more alone to time it.
    build_started = time.perf_counter()
    type(questions).model_validate(questions.model_dump())
    build_ms = (time.perf_counter() - build_started) * 1000

    ok = True
    cases = {name: yaml.safe_load(path.read_text(encoding="utf-8")) for name, path in SETS.items()}
    print(f"Spoken questions ({args.menus}): right entry / out-of-scope answered")
    for name, data in cases.items():
        for lang, (right, total, answered, out) in score(index, data).items():
            share = right / total
            line = (f"  {name:<10} {LANGUAGE_NAMES[lang]:<7} right entry {right}/{total} = {share:.0%}   "
                    f"out-of-scope answered {answered}/{out}")
            if name == "evaluation":
                missed = share < TARGET_RIGHT or answered > 0
                ok = ok and not missed
                line += "   MISSED TARGET" if missed else "   ok"
            print(line)

    timings = []
    for data in cases.values():
        for lang in LANGUAGES:
            for questions_list in data[lang].values():
                for question in questions_list:
                    for _ in range(REPEATS):
                        start = time.perf_counter_ns()
                        index.match(question, lang)
                        timings.append((time.perf_counter_ns() - start) / 1e6)
    p50 = statistics.median(timings)
    p99 = statistics.quantiles(timings, n=100)[98]
    print(f"  matcher per question: p50 {p50:.3f} ms, p99 {p99:.3f} ms over {len(timings)} matches "
          f"(target p99 <= {TARGET_P99_MS} ms){'' if p99 <= TARGET_P99_MS else '   MISSED TARGET'}")
    print(f"  index built once per script version in {build_ms:.0f} ms")
    return 0 if ok and p99 <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
