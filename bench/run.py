"""``make bench``: the line under load next to two bare Flask apps (bare_app.py), on this machine.

All three run under gunicorn (2 workers, 127.0.0.1, a free port) and get exactly the same
signed requests: a caller's path greeting -> language -> topic -> summary -> back, replayed by
a bounded closed loop (CLIENTS threads, each sending its next request when the previous answer
is complete, for SECONDS per app). Each worker class is measured for every app, so the
comparison is fair. The apps take turns in ROUNDS interleaved rounds; each round gives each app's
requests/s and p99, and the ratios against the signed yardstick (the least any webhook must do)
are the median of the rounds' ratios, so a burst of other load on the machine moves one round,
not the verdict (targets: throughput >= 1.0x, p99 <= 1.1x, issues 13 and 21). The unsigned bare
app's ratios are printed for information. Exits 1 if a target is missed. "start s" is
from starting gunicorn to its first answered signed request (all three start at once).

The client replays pre-built request bytes over raw sockets so that it costs as little CPU
as possible (the machine has 2 cores for the client and the servers' workers); its CPU use
is measured and printed.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token"
PUBLIC_BASE_URL = "https://ivr.example.org"
WORKERS = 2
THREADS = 4
CLIENTS = 8
SECONDS = 10.0
WARMUP_SECONDS = 1.0
ROUNDS = 7
# The line, and the yardsticks of bench/bare_app.py (run with bench/ on PYTHONPATH).
APPS = {"line": "app:app", "bare": "bare_app:app", "signed": "bare_app:signed_app"}
START_TIMEOUT = 30.0
# Against "signed": Flask checking the signature as Twilio's docs show, answering constant TwiML.
TARGET_THROUGHPUT_RATIO = 1.0
TARGET_P99_RATIO = 1.1
# What Twilio posts with every webhook of a call (numbers are fictional 555 numbers).
TWILIO_PARAMS = {
    "AccountSid": "AC" + "1" * 32, "ApiVersion": "2010-04-01", "CallSid": "CA" + "2" * 32,
    "CallStatus": "in-progress", "Direction": "inbound", "Called": "+12145550100",
    "CalledCity": "DALLAS", "CalledCountry": "US", "CalledState": "TX", "CalledZip": "75201",
    "Caller": "+12145559876", "CallerCity": "DALLAS", "CallerCountry": "US", "CallerState": "TX",
    "CallerZip": "75202", "From": "+12145559876", "FromCity": "DALLAS", "FromCountry": "US",
    "FromState": "TX", "FromZip": "75202", "To": "+12145550100", "ToCity": "DALLAS",
    "ToCountry": "US", "ToState": "TX", "ToZip": "75201",
}
# The caller's keys after the greeting: English, recovery, then * back to the topics.
KEYS = ["1", "2", "*"]


@dataclass
class Result:
    name: str
    worker_class: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    client_cpu_seconds: float
    start_seconds: float
    rounds: list[tuple[float, float]]  # (requests/s, p99 ms) of each round


    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bytes(path: str, params: dict) -> bytes:
    """One POST exactly as Twilio sends it, signed over the public URL."""
    body = urlencode(params).encode()
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
    head = (f"POST {path} HTTP/1.1\r\nHost: ivr.example.org\r\nUser-Agent: TwilioProxy/1.1\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Connection:
    """A keep-alive HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        length = int(headers.get(b"content-length", b"0"))
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            body += chunk
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def call_path(port: int) -> list[bytes]:
    """Walk the real line once, following each menu's action URL, and keep the requests."""
    connection, requests, played = Connection(port), [], False
    request = request_bytes("/voice", TWILIO_PARAMS)
    for key in [*KEYS, None]:
        status, body = connection.exchange(request)
        if status != 200:
            sys.exit(f"the line answered {status} on the bench's call path:\n{body.decode()[:500]}")
        requests.append(request)
        played |= b"<Play" in body
        if key is None:
            break
        action = ET.fromstring(body).find("Gather").get("action")
        request = request_bytes(action, {**TWILIO_PARAMS, "Digits": key})
    connection.close()
    print("call path: " + " -> ".join(r.split(b" ", 2)[1].decode() for r in requests)
          + ("; recordings played" if played else "; no recordings (AUDIO_DIR not built): every prompt is <Say>"))
    return requests


class Server:
    """A gunicorn serving ``target`` on a free port, started and stopped by us."""

    def __init__(self, target: str, worker_class: str, env: dict, log: Path):
        self.port = free_port()
        self.log = log.open("w")
        # gunicorn turns a sync worker with threads into gthread, so threads only for gthread; no
        # control socket, as two gunicorns run at once.
        threads = THREADS if worker_class == "gthread" else 1
        command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", worker_class,
                   "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", target]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_until_answering(self, request: bytes) -> float:
        """Seconds from process start to the first answered signed request."""
        deadline = self.started + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}; see {self.log.name}")
            try:
                connection = Connection(self.port)
                status, _ = connection.exchange(request)
                connection.close()
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.01)
        sys.exit(f"gunicorn did not answer within {START_TIMEOUT} s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def load(port: int, requests: list[bytes], seconds: float) -> tuple[int, int, list[float], float]:
    """CLIENTS closed loops replaying ``requests`` for ``seconds``: (count, errors, latencies, client CPU)."""
    counts, errors, latencies = [0] * CLIENTS, [0] * CLIENTS, [[] for _ in range(CLIENTS)]
    stop_at = time.perf_counter() + seconds

    def client(i: int) -> None:
        connection, step = Connection(port), i % len(requests)
        while (sent := time.perf_counter()) < stop_at:
            try:
                status, _ = connection.exchange(requests[step])
                errors[i] += status != 200
            except OSError:
                connection.close()
                errors[i] += 1
            latencies[i].append((time.perf_counter() - sent) * 1000)
            counts[i] += 1
            step = (step + 1) % len(requests)
        connection.close()

    cpu_before = time.process_time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), sum(errors), [ms for each in latencies for ms in each], time.process_time() - cpu_before


def compare(worker_class: str, env: dict, seconds: float, logs: Path) -> dict[str, Result]:
    """Both apps up at once; the load alternates between them in ROUNDS, so that whatever
    else the machine is doing weighs on both alike."""
    servers = {name: Server(target, worker_class, env, logs / f"{name}-{worker_class}.log")
               for name, target in APPS.items()}
    try:
        start = {name: server.wait_until_answering(request_bytes("/voice", TWILIO_PARAMS))
                 for name, server in servers.items()}
        requests = call_path(servers["line"].port)
        for server in servers.values():
            load(server.port, requests, WARMUP_SECONDS)
        results = {name: Result(name, worker_class, 0, 0, 0.0, [], 0.0, start[name], []) for name in servers}
        for _ in range(ROUNDS):
            for name, server in servers.items():
                count, errors, latencies, cpu = load(server.port, requests, seconds / ROUNDS)
                result = results[name]
                result.requests += count
                result.errors += errors
                result.seconds += seconds / ROUNDS
                result.latencies_ms += latencies
                result.client_cpu_seconds += cpu
                result.rounds.append((count / (seconds / ROUNDS),
                                      statistics.quantiles(latencies, n=100, method="inclusive")[98]))
    finally:
        for server in servers.values():
            server.stop()
    return results


def round_ratios(ours: Result, other: Result, metric: int) -> list[float]:
    """Each round's ratio of the line's requests/s (0) or p99 (1) to the other app's, in the same round."""
    return [mine[metric] / theirs[metric] for mine, theirs in zip(ours.rounds, other.rounds)]


def median_ratio(ours: Result, other: Result, metric: int) -> float:
    return statistics.median(round_ratios(ours, other, metric))


def spread(ours: Result, other: Result, metric: int) -> str:
    ratios = round_ratios(ours, other, metric)
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds per run")
    parser.add_argument("--worker-class", action="append", choices=["sync", "gthread"],
                        help="gunicorn worker class (default: sync, as in production and the targets)")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    # As in production (the call log on, here in a throwaway SQLite file), except the audio:
    # recordings are played only if AUDIO_DIR names a built folder (make audio needs internet).
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "CLINIC_PHONE_NUMBER": "+12145550100", "PYTHONPATH": str(ROOT / "bench"),
           "DATABASE_URL": f"sqlite:///{logs / 'calls.sqlite3'}", "CALLER_HASH_KEY": "bench-caller-hash-key-0123456789abcdef",
           "AUDIO_DIR": os.environ.get("AUDIO_DIR", str(logs / "no-audio"))}
    env.pop("IVR_DEV_INSECURE", None)
    print(f"{CLIENTS} closed-loop clients, {args.seconds:g} s per app in {ROUNDS} alternating rounds after "
          f"{WARMUP_SECONDS:g} s warm-up; gunicorn {WORKERS} workers ({THREADS} threads for gthread) on "
          f"127.0.0.1; {os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}; server logs in {logs}")
    print(f"{'app':<6} {'workers':<8} {'start s':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6} {'client CPU':>10}")
    ok = True
    for worker_class in args.worker_class or ["sync"]:
        results = compare(worker_class, env, args.seconds, logs)
        for r in results.values():
            print(f"{r.name:<6} {r.worker_class:<8} {r.start_seconds:>7.2f} {r.rps:>8.0f} {r.percentile(50):>7.2f} "
                  f"{r.percentile(99):>7.2f} {r.errors:>6} {r.client_cpu_seconds / r.seconds:>9.0%}")
        ours = results["line"]
        for name in ("bare", "signed"):
            other = results[name]
            throughput = median_ratio(ours, other, 0)
            p99 = median_ratio(ours, other, 1)
            met = throughput >= TARGET_THROUGHPUT_RATIO and p99 <= TARGET_P99_RATIO and not ours.errors
            if name == "signed" and worker_class == "sync":
                ok &= met
            print(f"{'':<6} {worker_class:<8} line/{name}, median of {ROUNDS} rounds: throughput {throughput:.2f}x "
                  f"(rounds {spread(ours, other, 0)}), p99 {p99:.2f}x (rounds {spread(ours, other, 1)})"
                  + (f" (targets >= {TARGET_THROUGHPUT_RATIO}x, <= {TARGET_P99_RATIO}x) -> {'met' if met else 'MISSED'}"
                     if name == "signed" else " (for information)"))
    print("client CPU = the load generator's share of one core (the rest is left to the servers)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
