"""The call log through a database outage, under load (issues 13 and 19: "0 rows lost").

The line runs under gunicorn (2 sync workers, 127.0.0.1) and 4 closed-loop clients walk the
bench's call path. After LEAD_SECONDS the database fails for --outage seconds (default 60):

  --fault lock   another program locks the SQLite file (BEGIN EXCLUSIVE), then lets go;
  --fault pause  the PostgreSQL of tests/with-postgres.sh is paused (SIGSTOP), then resumed:
                 bash tests/with-postgres.sh .venv/bin/python bench/outage.py --fault pause --outage 20

With --kill, one worker is killed (SIGKILL) halfway through the outage; gunicorn starts another,
which replays the killed one's spool file. The clients go on for TAIL_SECONDS and stop. Every
answered webhook of the call path is one call-log row: the script counts the 200s, waits (at
most DRAIN_SECONDS) until the workers have written what they held, and prints sent, stored and
lost, and the slowest answer during the outage. Exits 1 if a row is lost or a webhook failed
(other than those the killed worker was answering).
Not a test: it takes --outage + about 30 s.

    .venv/bin/python bench/outage.py [--outage 60] [--kill]
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import MetaData, create_engine, text

from ivr import calllog
from run import PUBLIC_BASE_URL, TOKEN, TWILIO_PARAMS, Connection, Server, call_path, request_bytes

CLIENTS = 4
LEAD_SECONDS = 5
TAIL_SECONDS = 10
DRAIN_SECONDS = 60


def stored(url: str) -> int:
    engine = create_engine(calllog.with_driver(url))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM call_steps")).scalar()
    finally:
        engine.dispose()


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def postgres_processes() -> list[int]:
    postmaster = int(Path(os.environ["TEST_POSTGRES_DATA"], "postmaster.pid").read_text().split()[0])
    return [postmaster, *children(postmaster)]


def empty_postgres(url: str) -> None:
    engine = create_engine(calllog.with_driver(url))
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the database stays away")
    parser.add_argument("--fault", choices=["lock", "pause"], default="lock",
                        help="lock: SQLite locked by another program; pause: PostgreSQL paused (SIGSTOP)")
    parser.add_argument("--kill", action="store_true", help="kill -9 a worker halfway through the outage")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ivr-outage-"))
    database = folder / "calls.sqlite3"
    url = f"sqlite:///{database}"
    if args.fault == "pause":
        if not os.environ.get("TEST_POSTGRES_DATA"):
            sys.exit("--fault pause needs tests/with-postgres.sh (a throwaway PostgreSQL this script may pause)")
        url = os.environ["TEST_DATABASE_URL"]
        empty_postgres(url)
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "CLINIC_PHONE_NUMBER": "+12145550100", "DATABASE_URL": url,
           "CALLER_HASH_KEY": "outage-caller-hash-key-0123456789abcdef", "AUDIO_DIR": str(folder / "no-audio")}
    env.pop("IVR_DEV_INSECURE", None)
    server = Server("app:app", "sync", env, folder / "gunicorn.log")
    answered, errors, stop = [0] * CLIENTS, [0] * CLIENTS, threading.Event()
    slowest, outage = [0.0], threading.Event()
    try:
        server.wait_until_answering(request_bytes("/voice", TWILIO_PARAMS))
        requests = call_path(server.port)

        def client(i: int) -> None:
            connection, step = Connection(server.port), i % len(requests)
            while not stop.is_set():
                try:
                    started = time.perf_counter()
                    status, _ = connection.exchange(requests[step])
                    if outage.is_set():
                        slowest[0] = max(slowest[0], time.perf_counter() - started)
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
        if args.fault == "lock":
            lock = sqlite3.connect(database, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
        else:
            paused = postgres_processes()
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
        outage.set()
        during = sum(answered)
        time.sleep(args.outage / 2)
        if args.kill:
            os.kill(children(server.process.pid)[0], signal.SIGKILL)
        time.sleep(args.outage / 2)
        if args.fault == "lock":
            lock.close()
        else:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
        outage.clear()
        during = sum(answered) - during
        time.sleep(TAIL_SECONDS)
        stop.set()
        for thread in threads:
            thread.join()
        # The probe of wait_until_answering and the walk of call_path are rows too.
        sent = sum(answered) + 1 + len(requests)
        deadline = time.monotonic() + DRAIN_SECONDS
        while (count := stored(url)) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        server.stop()
    fault = {"lock": "SQLite locked", "pause": "PostgreSQL paused"}[args.fault]
    print(f"{CLIENTS} clients, 2 sync workers, {fault} for {args.outage:g} s{', a worker killed (-9) halfway' if args.kill else ''}: "
          f"{sent} steps answered ({during} during the outage, {sum(errors)} errors, the slowest "
          f"{slowest[0] * 1000:.0f} ms), {count} in the call log, {max(sent - count, 0)} lost"
          f"{f' ({count - sent} more rows than answers received: a killed worker answer never sent)' if count > sent else ''}"
          f"; logs in {folder}")
    # A killed worker drops the requests it was answering (Twilio would then use the fallback URL).
    return 0 if count >= sent and sum(errors) <= (CLIENTS if args.kill else 0) else 1


if __name__ == "__main__":
    sys.exit(main())
