"""How long a caller listens before the first word of each summary (``make bench``).

Prints, per language and topic, the seconds from the first word of the call to the first word
of each summary, for a caller who presses each key as soon as it is offered: a first-time
caller (language menu, then the topics) and a returning one (greeted in their language). The
numbers come from ivr/timing.py, the computation `make check` uses for its budget warnings
(2.2 words a second plus 0.25 s a sentence); when recordings are built (``make audio``), a
second column times the recorded prompts by their lengths in the manifest. Last, what the
returning callers' language look-up costs /voice (it must add no measurable latency).

To be sure the computation follows what callers really hear, the first-time numbers are also
measured from the webhooks' TwiML (greeting -> language -> topic), sentence by sentence; a
difference fails the bench. Exit status 1 when a number misses its budget.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import audio, calllog, create_app, timing  # noqa: E402
from ivr.checks import mentioned_keys  # noqa: E402
from ivr.script import LANGUAGES, Script  # noqa: E402


VOICE_SAMPLES = 300


def fresh_recordings(script: Script, folder: Path) -> dict[tuple[str, str], float]:
    """The length of each prompt's recording, for recordings of the current words only."""
    recordings = {}
    for (prompt_id, lang), recording in audio.read_manifest(folder).items():
        try:
            text = script.text(prompt_id, lang)
        except (KeyError, AttributeError):
            continue
        if recording.source_hash == audio.source_hash(text, lang, recording.engine, audio.is_slow(prompt_id)):
            recordings[prompt_id, lang] = recording.seconds
    return recordings


def said_until(body: bytes, key: str) -> float:
    """Seconds of <Say> in a Gather's TwiML until the sentence offering ``key`` ends."""
    total = 0.0
    for say in ET.fromstring(body).iter("Say"):
        lang = "en" if say.get("language", "").startswith("en") else "es"
        for sentence in say.iter("s"):
            text = " ".join("".join(sentence.itertext()).split())
            total += timing.spoken_seconds(text, lang)
            if key in mentioned_keys(text, lang):
                return total
    raise AssertionError(f"key {key} is never offered")


def measured_first_time(app, script: Script) -> dict[tuple[str, str], float]:
    """The first-time numbers, measured from the webhooks' TwiML."""
    client, times = app.test_client(), {}
    for lang in LANGUAGES:
        key = timing.language_key(script, lang)
        opening = client.post("/voice").data
        topics = client.post(ET.fromstring(opening).find("Gather").get("action"), data={"Digits": key}).data
        for topic, topic_key in timing.topic_keys(script).items():
            times[lang, topic] = said_until(opening, key) + said_until(topics, topic_key)
    return times


def voice_milliseconds(config: dict, folder: Path, caller_hash_key: str) -> float:
    """The median time of /voice for a returning caller (with a key), on this machine."""
    app = create_app({**config, "CALLER_HASH_KEY": caller_hash_key,
                      "DATABASE_URL": f"sqlite:///{folder / f'calls-{bool(caller_hash_key)}.sqlite3'}"})
    client, caller = app.test_client(), {"From": "+12145559876", "CallSid": "CA" + "1" * 32}
    opening = client.post("/voice", data=caller).data
    client.post(ET.fromstring(opening).find("Gather").get("action"), data={**caller, "Digits": "2"})
    calllog.flush()
    times = []
    for _ in range(VOICE_SAMPLES):
        start = time.perf_counter()
        client.post("/voice", data=caller)
        times.append(time.perf_counter() - start)
    calllog.flush()
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--menus", type=Path, help="a scripts folder to measure instead of ivr/menus")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the dev-mode warning and the webhook log lines
    config = {"TWILIO_AUTH_TOKEN": "", "IVR_DEV_INSECURE": True, "CLINIC_PHONE_NUMBER": "+12145550100",
              "CALLER_HASH_KEY": ""}
    if args.menus:
        config["MENUS_DIR"] = args.menus
    app = create_app(config)
    script = app.extensions["ivr.scripts"].newest()
    recorded = fresh_recordings(script, Path(app.config["AUDIO_DIR"]).resolve())
    measured = measured_first_time(app, script)

    print("Time to information: seconds from the first word of the call to the first word of each summary,")
    print(f"pressing each key as soon as it is offered (speech at "
          f"{', '.join(f'{lang} {rate}' for lang, rate in timing.WORDS_PER_SECOND.items())} words/s "
          f"+ {timing.SENTENCE_PAUSE} s a sentence; recordings by their length)")
    print(f"{'caller':<11} {'lang':<5} {'topic':<11} {'said':>6} {'recorded':>9} {'budget':>7}")
    ok = True
    for returning in (False, True):
        first, every = ((timing.RETURNING_FIRST_TOPIC_BUDGET, timing.RETURNING_EVERY_TOPIC_BUDGET) if returning
                        else (timing.FIRST_TOPIC_BUDGET, timing.EVERY_TOPIC_BUDGET))
        for lang in LANGUAGES:
            said = timing.time_to_information(script, lang, returning)
            with_recordings = timing.time_to_information(script, lang, returning, recorded) if recorded else {}
            for n, (topic, seconds) in enumerate(said.items()):
                budget = first if n == 0 else every
                heard = [seconds, with_recordings.get(topic, seconds)]
                ok &= max(heard) <= budget
                if not returning and abs(measured[lang, topic] - seconds) > 0.01:
                    print(f"MISMATCH: the webhooks say {measured[lang, topic]:.2f} s for {lang} {topic}, "
                          f"ivr/timing.py {seconds:.2f} s")
                    ok = False
                recorded_column = f"{with_recordings[topic]:>8.1f}s" if with_recordings else f"{'-':>9}"
                print(f"{'returning' if returning else 'first-time':<11} {lang:<5} {topic:<11} {seconds:>5.1f}s "
                      f"{recorded_column} {budget:>6}s")
    both = max(timing.opening_seconds(script, lang, recorded) for lang in LANGUAGES)
    ok &= both <= timing.LANGUAGE_CHOICES_BUDGET
    print(f"every language choice heard after {both:.1f} s (budget {timing.LANGUAGE_CHOICES_BUDGET} s)")
    if not recorded:
        print("no recordings built: the 'recorded' column is empty (make audio)")
    with tempfile.TemporaryDirectory() as folder:
        plain = voice_milliseconds(config, Path(folder), "")
        returning = voice_milliseconds(config, Path(folder), "k" * 32)
    print(f"/voice, median of {VOICE_SAMPLES}: {plain:.2f} ms without language memory, {returning:.2f} ms for a "
          f"returning caller (the database read every time, within its 50 ms budget)")
    print(f"time-to-information budgets {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
