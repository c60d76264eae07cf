"""How long a caller listens before the first word of each summary (``make bench``).

Drives the real webhooks (greeting -> language -> topic) and adds up what each answer makes
the caller hear before the summary starts, per language and topic, two ways:

- barge-in: the caller presses as soon as the sentence offering their key has been said
  (a Gather stops speaking at the first key);
- whole menu: the caller waits for every menu to finish before pressing.

Spoken text is timed at ivr.checks.WORDS_PER_SECOND, the calm pace the scripts are written for
(the figure `check` uses; it includes the pauses between sentences). A number is
said digit by digit ("911" is three words). Recorded prompts (<Play>) are timed by the lengths
in the audio build's manifest (``AUDIO_DIR/manifest.json``); with recordings the whole menu
is counted even for barge-in, as the key's place inside a recording is unknown.
Network and speech-recognition delays are not counted. Target: TARGET_SECONDS.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import audio, create_app  # noqa: E402
from ivr.checks import WORDS_PER_SECOND  # noqa: E402
from ivr.script import LANGUAGES  # noqa: E402

TARGET_SECONDS = 20
TOPICS_MENU = "topics"


@dataclass
class Segment:
    """One sentence (or one recording) the caller hears."""

    text: str
    seconds: float
    in_gather: bool


def spoken_words(text: str) -> int:
    return sum(len(word) if word.isdigit() else 1 for word in re.findall(r"\w+(?:['’-]\w+)*", text))


def play_seconds(url: str, recordings: dict[str, float]) -> float:
    return recordings[url.rstrip("/").rsplit("/", 1)[-1]]


def heard(body: bytes, recordings: dict[str, float]) -> list[Segment]:
    segments = []

    def visit(element: ET.Element, in_gather: bool) -> None:
        if element.tag == "Say":
            sentences = [" ".join("".join(s.itertext()).split()) for s in element.iter("s")]
            for text in sentences or [" ".join("".join(element.itertext()).split())]:
                segments.append(Segment(text, spoken_words(text) / WORDS_PER_SECOND, in_gather))
        elif element.tag == "Play":
            url = element.text.strip()
            segments.append(Segment(f"<Play {url}>", play_seconds(url, recordings), in_gather))
        else:
            for child in element:
                visit(child, in_gather or element.tag == "Gather")

    visit(ET.fromstring(body), False)
    return segments


def until_key(segments: list[Segment], key: str, barge_in: bool) -> float:
    """Seconds heard before the caller presses ``key`` in this answer's Gather."""
    # "press 1" / "oprima 1", not the 1 of "dial 9 1 1".
    total, offered = 0.0, re.compile(rf"\b(press|oprima) {re.escape(key)}(?![\w*])")
    recorded = any(s.text.startswith("<Play") for s in segments if s.in_gather)
    for segment in segments:
        total += segment.seconds
        if barge_in and not recorded and segment.in_gather and offered.search(segment.text):
            break
    return total


def measure(menus_dir: Path | None) -> tuple[dict, dict]:
    logging.disable(logging.WARNING)  # the dev-mode warning and the webhook log lines
    config = {"TWILIO_AUTH_TOKEN": "", "IVR_DEV_INSECURE": True, "CLINIC_PHONE_NUMBER": "+12145550100"}
    if menus_dir:
        config["MENUS_DIR"] = menus_dir
    app = create_app(config)
    client, script = app.test_client(), app.extensions["ivr.scripts"].newest()
    # The length of each recording, from the audio build's manifest (ivr/audio.py).
    recordings = {r.file: r.seconds for r in audio.read_manifest(Path(app.config["AUDIO_DIR"]).resolve()).values()}
    language_keys = {option.language: key for key, option in script.language_menu.items()}
    topic_keys = {option.goes_to: key for key, option in script.menu(TOPICS_MENU).options.items()
                  if option.goes_to in script.summaries}
    times, parts = {}, {}
    for lang in LANGUAGES:
        greeting = client.post("/voice").data
        action = ET.fromstring(greeting).find("Gather").get("action")
        topics = client.post(action, data={"Digits": language_keys[lang]}).data
        action = ET.fromstring(topics).find("Gather").get("action")
        first = heard(greeting, recordings)
        second = heard(topics, recordings)
        parts[lang] = {"greeting and language menu": sum(s.seconds for s in first),
                       "topic menu": sum(s.seconds for s in second)}
        for topic, key in topic_keys.items():
            summary = client.post(action, data={"Digits": key}).data
            # The summary is playing: its after-summary menu answers at /ivr/choose/<topic>.
            assert ET.fromstring(summary).find("Gather").get("action").startswith(f"/ivr/choose/{topic}"), topic
            times[lang, topic] = {
                barge_in: until_key(first, language_keys[lang], barge_in) + until_key(second, key, barge_in)
                for barge_in in (True, False)}
    return times, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--menus", type=Path, help="a scripts folder to measure instead of ivr/menus")
    args = parser.parse_args()
    times, parts = measure(args.menus)
    print(f"Time to information: seconds of prompts before the first word of each summary "
          f"(speech at {WORDS_PER_SECOND} words/s; target <= {TARGET_SECONDS} s)")
    print(f"{'lang':<5} {'topic':<11} {'barge-in':>9} {'whole menus':>12}")
    for (lang, topic), seconds in times.items():
        print(f"{lang:<5} {topic:<11} {seconds[True]:>8.1f}s {seconds[False]:>11.1f}s")
    for lang, each in parts.items():
        print(f"{lang}: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in each.items()))
    met = all(seconds[True] <= TARGET_SECONDS for seconds in times.values())
    print(f"barge-in target {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
