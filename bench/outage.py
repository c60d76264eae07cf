"""The call log through a database outage, under load (issue 13: "0 rows lost for outages up to 60 s").

The line runs under gunicorn (2 sync workers, SQLite, 127.0.0.1) and 4 closed-loop clients walk
the bench's call path. After LEAD_SECONDS another program locks the database (BEGIN EXCLUSIVE)
for --outage seconds (default 60), then lets go; the clients go on for TAIL_SECONDS and stop.
Every answered webhook of the call path is one call-log row: the script counts the 200s, waits
(at most DRAIN_SECONDS) until the workers have written what they held, and prints sent, stored
and lost. Exits 1 if a row is lost. Not a test: it takes --outage + about 30 s.

    .venv/bin/python bench/outage.py [--outage 60]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from run import PUBLIC_BASE_URL, TOKEN, TWILIO_PARAMS, Connection, Server, call_path, request_bytes

CLIENTS = 4
LEAD_SECONDS = 5
TAIL_SECONDS = 10
DRAIN_SECONDS = 60


def stored(database: Path) -> int:
    with sqlite3.connect(database, timeout=5) as connection:
        return connection.execute("SELECT count(*) FROM call_steps").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the database stays locked")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivr-outage-"))
    database = folder / "calls.sqlite3"
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "CLINIC_PHONE_NUMBER": "+12145550100", "DATABASE_URL": f"sqlite:///{database}",
           "CALLER_HASH_KEY": "outage-caller-hash-key-0123456789abcdef", "AUDIO_DIR": str(folder / "no-audio")}
    env.pop("IVR_DEV_INSECURE", None)
    server = Server("app:app", "sync", env, folder / "gunicorn.log")
    answered, errors, stop = [0] * CLIENTS, [0] * CLIENTS, threading.Event()
    try:
        server.wait_until_answering(request_bytes("/voice", TWILIO_PARAMS))
        requests = call_path(server.port)

        def client(i: int) -> None:
            connection, step = Connection(server.port), i % len(requests)
            while not stop.is_set():
                try:
                    status, _ = connection.exchange(requests[step])
                    answered[i] += status == 200
                    errors[i] += status != 200
                except OSError:
                    connection.close()
                    errors[i] += 1
                step = (step + 1) % len(requests)
            connection.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(LEAD_SECONDS)
        lock = sqlite3.connect(database, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        during = sum(answered)
        time.sleep(args.outage)
        lock.close()
        during = sum(answered) - during
        time.sleep(TAIL_SECONDS)
        stop.set()
        for thread in threads:
            thread.join()
        # The probe of wait_until_answering and the walk of call_path are rows too.
        sent = sum(answered) + 1 + len(requests)
        deadline = time.monotonic() + DRAIN_SECONDS
        while (count := stored(database)) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        server.stop()
    print(f"{CLIENTS} clients, 2 sync workers, SQLite locked for {args.outage:g} s: {sent} steps answered "
          f"({during} during the outage, {sum(errors)} errors), {count} in the call log, {sent - count} lost; "
          f"logs in {folder}")
    return 0 if count >= sent and not sum(errors) else 1


if __name__ == "__main__":
    sys.exit(main())
