"""What key 5 (text messages, call backs) adds to a webhook's cost, in-process (no HTTP).

Microseconds of CPU per signed request, best of ROUNDS, for the same webhooks with key 5 set up and not:
the summary (whose menu then says the offer: the caller's number is checked, the call's texts read
from the URL) and pressing 5 after it (the first 5 of a call also counts the number's texts today,
within 50 ms; the outbox row is only handed to the call log's writer). Run with
``.venv/bin/python bench/to_your_phone.py``; `make bench` runs it.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import calllog, create_app  # noqa: E402

TOKEN = "bench-auth-token"
BASE = "https://ivr.example.org"
CALLER = "+12145559876"
ROUNDS, CALLS = 30, 50
# CPU time of the thread serving the requests: the machine is shared, and wall time under load
# says more about the neighbours than about the line. (The first 5 of a call also waits for a
# count in the database, on another thread, for at most 50 ms: timed apart, in wall time.)
CLOCK = time.thread_time
OPEN = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("America/Chicago"))


def app_for(folder: Path, key_five: bool):
    config = {"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE, "CLINIC_PHONE_NUMBER": "+12145550123",
              "AUDIO_DIR": str(folder / "audio"), "DATABASE_URL": f"sqlite:///{folder / 'calls.sqlite3'}",
              "CALLER_HASH_KEY": "bench-caller-hash-key-0123456789abcdef", "CLOCK": lambda: OPEN}
    if key_five:
        config.update(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_MESSAGING_SERVICE_SID="MG" + "2" * 32)
    return create_app(config)


def post(client, path: str, params: dict):
    params = {"From": CALLER, **params}
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def per_request(client, path: str, params: dict, call_sids) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = CLOCK()
        for sid in call_sids:
            post(client, path, {**params, "CallSid": sid})
        best = min(best, (CLOCK() - started) / len(call_sids))
        calllog.flush()
    return best * 1e6


def measure(key_five: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        app = app_for(Path(folder), key_five)
        client = app.test_client()
        topics = ET.fromstring(post(client, "/voice", {"CallSid": "CA0", "Digits": ""}).data)
        after_language = topics.find("Gather").get("action").replace(BASE, "")
        menu = ET.fromstring(post(client, after_language, {"CallSid": "CA0", "Digits": "1"}).data)
        to_summary = menu.find("Gather").get("action").replace(BASE, "")
        summary = ET.fromstring(post(client, to_summary, {"CallSid": "CA0", "Digits": "2"}).data)
        after_summary = list(summary.iter("Gather"))[-1].get("action").replace(BASE, "")
        sids = [f"CA{n:032d}" for n in range(CALLS)]  # each 5 is the first of its call
        return {
            "summary (its menu offers the text)": per_request(client, to_summary, {"Digits": "2"}, sids),
            "5 after the summary": per_request(client, after_summary, {"Digits": "5"}, sids),
            "9 after the summary (for comparison)": per_request(client, after_summary, {"Digits": "9"}, sids),
        }


def main() -> None:
    # The line's JSON log lines go to stderr: not part of what is measured here.
    logging.disable(logging.WARNING)
    runs = [(measure(False), measure(True)) for _ in range(2)]  # alternated: the machine is shared
    off = {name: min(run[0][name] for run in runs) for name in runs[0][0]}
    on = {name: min(run[1][name] for run in runs) for name in runs[0][1]}
    print(f"Key 5's cost per webhook, in-process, CPU µs, best of {ROUNDS} x {CALLS} calls:")
    print(f"{'webhook':<40}{'key 5 off':>12}{'on':>10}{'added':>10}")
    for name in off:
        print(f"{name:<40}{off[name]:>12.0f}{on[name]:>10.0f}{on[name] - off[name]:>+10.0f}")
    print(f"the count at the first 5 of a call (wall time, median of {CALLS}): {count_wall_ms():.2f} ms (budget 50 ms)")
    print(f"handing the outbox row to the call log's writer: {hold_us():.1f} µs")


def hold_us() -> float:
    from ivr import text_messages

    with tempfile.TemporaryDirectory() as folder:
        app = app_for(Path(folder), True)
        started = time.perf_counter()
        for n in range(1000):
            text_messages.request(app, f"CA{n:032d}", "recovery", "en", "0" * 64, OPEN)
        held = (time.perf_counter() - started) / 1000 * 1e6
        calllog.flush()
        return held


def count_wall_ms() -> float:
    import statistics

    with tempfile.TemporaryDirectory() as folder:
        app = app_for(Path(folder), True)
        count = app.extensions["ivr.texts_today"]
        count(CALLER, OPEN)  # the first one migrates the database
        times = []
        for _ in range(CALLS):
            started = time.perf_counter()
            count(CALLER, OPEN)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
