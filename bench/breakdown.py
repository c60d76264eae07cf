"""Where a request's time goes: the bench's call path, in-process (no HTTP, no gunicorn).

Prints microseconds per request (best of ROUNDS) for the yardsticks and for the line with
one part at a time left out, so the cost of each part is the difference. ``--cprofile``
also prints the line's top functions. Run with ``.venv/bin/python bench/breakdown.py``.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

from run import KEYS, PUBLIC_BASE_URL, ROOT, TOKEN, TWILIO_PARAMS

ROUNDS = 7
CALLS = 100


def prepared_requests(app) -> list[tuple[dict, bytes]]:
    """The bench's call path as WSGI environments, following the line's own action URLs."""
    requests, path, params = [], "/voice", TWILIO_PARAMS
    for key in [*KEYS, None]:
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
        environ = EnvironBuilder(path=path, method="POST", data=urlencode(params), headers={
            "X-Twilio-Signature": signature, "Host": "ivr.example.org",
            "Content-Type": "application/x-www-form-urlencoded"}).get_environ()
        requests.append((environ, environ["wsgi.input"].read()))
        if key is None:
            return requests
        body = call(app, *requests[-1])
        path, params = ET.fromstring(body).find("Gather").get("action"), {**TWILIO_PARAMS, "Digits": key}


SINK = open(os.devnull, "w")


def call(app, environ: dict, body: bytes) -> bytes:
    environ = {**environ, "wsgi.input": io.BytesIO(body), "wsgi.errors": SINK}
    return b"".join(app(environ, lambda *args: None))


def seconds_per_request(app, requests) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        for each in requests:
            call(app, *each)
    return (time.perf_counter() - started) / (CALLS * len(requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cprofile", action="store_true", help="also print the line's top functions")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    os.environ.update(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC_BASE_URL, CLINIC_PHONE_NUMBER="+12145550100",
                      DATABASE_URL=f"sqlite:///{folder / 'calls.sqlite3'}", CALLER_HASH_KEY="bench-caller-hash-key-0123456789abcdef",
                      AUDIO_DIR=os.environ.get("AUDIO_DIR", str(folder / "no-audio")))
    sys.path.insert(0, str(ROOT))
    import bare_app
    from ivr import calllog, create_app, ops

    line = create_app()
    requests = prepared_requests(line)
    write, token = calllog.CallLog.write, line.config["TWILIO_AUTH_TOKEN"]

    def without(part: str) -> None:
        calllog.CallLog.write = (lambda self, row: None) if part == "the call log's write" else write
        ops.webhook_log.disabled = part == "the JSON log line"
        line.config["TWILIO_AUTH_TOKEN"] = "" if part == "the signature check" else token

    variants = {"bare": (bare_app.app, None), "signed": (bare_app.signed_app, None), "line": (line, None)}
    for part in ("the call log's write", "the JSON log line", "the signature check"):
        variants[f"line without {part}"] = (line, part)
    best = dict.fromkeys(variants, float("inf"))
    # Rounds of every variant in turn, best of each: other load on the machine weighs on all alike.
    # The line's log lines go to stderr, here to nowhere.
    with contextlib.redirect_stderr(SINK):
        for _ in range(ROUNDS):
            for name, (app, part) in variants.items():
                without(part)
                best[name] = min(best[name], seconds_per_request(app, requests))
        without(None)
    print(f"microseconds per request (best of {ROUNDS} rounds of {CALLS} calls of the bench's path):")
    for name, seconds in best.items():
        print(f"  {name:<55} {seconds * 1e6:6.0f}")
    if args.cprofile:
        profile = cProfile.Profile()
        with contextlib.redirect_stderr(SINK):
            profile.runcall(lambda: [call(line, *each) for _ in range(CALLS) for each in requests])
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
