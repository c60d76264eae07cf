"""CPU per webhook, in-process (no HTTP, no gunicorn), against the signed yardstick (bare_app.py).

Each kind of webhook of a call is sent to the line and to the yardstick, CALLS times each, in
ROUNDS interleaved rounds; the CPU time of this process (``time.process_time``: other jobs on the
machine do not count) per request, minimum over the rounds, is compared with the yardstick's on
the very same requests. The line's call-log rows are written inside the measured time (the
writer thread's work is the line's too). Prints each webhook's microseconds and ratio against its
target (issue 21) and exits 1 if one is missed.

``--parts`` also prints the line with one part at a time left out (the cost of each part is the
difference); ``--cprofile`` the line's top functions. Run with ``.venv/bin/python bench/breakdown.py``.
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

from run import PUBLIC_BASE_URL, ROOT, TOKEN, TWILIO_PARAMS

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 9))
CALLS = 200
# CPU per request against the signed yardstick's, on the same requests (issue 21).
CACHED, RETURNING, QUESTION = 1.0, 1.5, 2.5
STRETCH = 0.5
RETURNING_CALLER = "+12145550142"
QUESTION_WORDS = "how long does recovery take"
SINK = open(os.devnull, "w")


def prepared(path: str, params: dict) -> tuple[dict, bytes]:
    """A POST as Twilio sends it, signed over the public URL, as a WSGI environment and body."""
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
    environ = EnvironBuilder(path=path, method="POST", data=urlencode(params), headers={
        "X-Twilio-Signature": signature, "Host": "ivr.example.org",
        "Content-Type": "application/x-www-form-urlencoded"}).get_environ()
    return environ, environ["wsgi.input"].read()


def call(app, request: tuple[dict, bytes]) -> bytes:
    environ, body = request
    environ = {**environ, "wsgi.input": io.BytesIO(body), "wsgi.errors": SINK}
    return b"".join(app(environ, lambda *args: None))


def action(body: bytes) -> str:
    return ET.fromstring(body).find("Gather").get("action")


def webhooks(line) -> dict[str, tuple[tuple[dict, bytes], float]]:
    """Each kind of webhook, found by walking the line's own action URLs: (request, target)."""
    from ivr import calllog

    first = prepared("/voice", TWILIO_PARAMS)
    language_menu = action(call(line, first))
    english = prepared(language_menu, {**TWILIO_PARAMS, "Digits": "1"})
    topics = action(call(line, english))
    summary = prepared(topics, {**TWILIO_PARAMS, "Digits": "2"})
    back = prepared(action(call(line, summary)), {**TWILIO_PARAMS, "Digits": "*"})
    question = prepared(topics, {**TWILIO_PARAMS, "SpeechResult": QUESTION_WORDS, "Confidence": "0.9"})
    status = prepared("/ivr/call/status", {**TWILIO_PARAMS, "CallStatus": "completed", "CallDuration": "95"})
    # A caller who chose Spanish before: /voice answers with the topics in Spanish.
    caller = {**TWILIO_PARAMS, "From": RETURNING_CALLER, "Caller": RETURNING_CALLER, "CallSid": "CA" + "3" * 32}
    call(line, prepared("/voice", caller))
    call(line, prepared(language_menu, {**caller, "Digits": "2"}))
    calllog.flush()
    returning = prepared("/voice", caller)
    assert b"Gather" in call(line, returning) and b'es-MX' in call(line, returning), "the caller is not remembered"
    return {"key press -> menu": (english, CACHED), "key press -> summary": (summary, CACHED),
            "* -> menu": (back, CACHED), "call status callback": (status, CACHED),
            "/voice, returning caller": (returning, RETURNING), "spoken question": (question, QUESTION)}


def cpu_per_request(app, request, flush=lambda: None) -> float:
    started = time.process_time()
    for _ in range(CALLS):
        call(app, request)
    flush()
    return (time.process_time() - started) / CALLS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", action="store_true", help="also the line without each part in turn")
    parser.add_argument("--cprofile", action="store_true", help="also print the line's top functions")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    os.environ.update(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC_BASE_URL, CLINIC_PHONE_NUMBER="+12145550100",
                      DATABASE_URL=f"sqlite:///{folder / 'calls.sqlite3'}", CALLER_HASH_KEY="bench-caller-hash-key-0123456789abcdef",
                      AUDIO_DIR=os.environ.get("AUDIO_DIR", str(folder / "no-audio")))
    sys.path.insert(0, str(ROOT))
    import bare_app
    from ivr import calllog, create_app, ops

    with contextlib.redirect_stderr(SINK):  # start-up warnings and the line's log lines: nowhere
        line = create_app()
        kinds = webhooks(line)
        write, token = calllog.CallLog.write, line.config["TWILIO_AUTH_TOKEN"]

        def without(part: str | None) -> None:
            calllog.CallLog.write = (lambda self, row: None) if part == "the call log's write" else write
            ops.webhook_log.disabled = part == "the JSON log line"
            line.config["TWILIO_AUTH_TOKEN"] = "" if part == "the signature check" else token

        variants = {"line": None}
        if args.parts:
            variants.update({f"line without {part}": part
                             for part in ("the call log's write", "the JSON log line", "the signature check")})
        best = {(kind, name): float("inf") for kind in kinds for name in ["signed", *variants]}
        # Rounds of every webhook and app in turn, best of each: whatever else runs weighs on all alike.
        for _ in range(ROUNDS):
            for kind, (request, _) in kinds.items():
                best[kind, "signed"] = min(best[kind, "signed"], cpu_per_request(bare_app.signed_app, request))
                for name, part in variants.items():
                    without(part)
                    best[kind, name] = min(best[kind, name], cpu_per_request(line, request, calllog.flush))
            without(None)
    print(f"CPU µs per request, in-process (minimum of {ROUNDS} interleaved rounds of {CALLS}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}):")
    print(f"  {'webhook':<26} {'signed':>7} " + " ".join(f"{name:>{max(len(name), 6)}}" for name in variants)
          + "   line/signed  target")
    ok = True
    for kind, (_, target) in kinds.items():
        ratio = best[kind, "line"] / best[kind, "signed"]
        met = ratio <= target
        ok &= met
        stretch = f", stretch <= {STRETCH}x {'met' if ratio <= STRETCH else 'not met'}" if target == CACHED else ""
        print(f"  {kind:<26} {best[kind, 'signed'] * 1e6:>7.0f} "
              + " ".join(f"{best[kind, name] * 1e6:>{max(len(name), 6)}.0f}" for name in variants)
              + f"   {ratio:>10.2f}x  <= {target}x {'met' if met else 'MISSED'}{stretch}")
    if args.cprofile:
        profile = cProfile.Profile()
        requests = [request for request, _ in kinds.values()]
        with contextlib.redirect_stderr(SINK):
            profile.runcall(lambda: [call(line, each) for _ in range(CALLS) for each in requests])
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
