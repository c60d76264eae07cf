"""``make test-proxy``: Debian's nginx with deploy/nginx-http.conf and deploy/nginx-proxy.conf in front
of the line's gunicorn (2 sync workers), on loopback, attacked as in issues 13 and 19 while a real
caller's signed /voice is timed.

The attacker is one address (127.0.0.2), Twilio another (127.0.0.1), as on the internet. It keeps
SLOW_CONNECTIONS connections trickling their headers a byte at a time, UNSIGNED_POSTERS threads
posting unsigned bodies just under the 16 KB cap (2,400 tiny parameters, or 99 big ones), and
HUGE_POSTERS threads posting 10 MB bodies; meanwhile PROBES signed /voice requests, one after the
other, must each answer 200 with the p99 (with 20 probes, the slowest) under TARGET_SECONDS.
Before the attack it measures what an unsigned request costs gunicorn against a signed /voice,
and after it how soon the port-80 redirect server drops a slow client.

Everything is bounded: the attack stops when the probes are done, or after ATTACK_LIMIT_SECONDS,
and every process is stopped at the end. Exits 1 if a target is missed. Not a pytest test: it
needs nginx and takes about a minute and a half.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "proxy-test-auth-token"
PUBLIC_BASE_URL = "https://ivr.example.org"
TWILIO, ATTACKER = "127.0.0.1", "127.0.0.2"
PROBES = 20
TARGET_SECONDS = 1.0
SLOW_CONNECTIONS = 2000
UNSIGNED_POSTERS = 48
HUGE_POSTERS = 8
HUGE_BYTES = 10 * 1024 * 1024
# An unsigned request may cost gunicorn at most this much more than a signed /voice (issue 19).
UNSIGNED_COST_RATIO = 1.5
COST_SAMPLES = 100
# nginx-http.conf's client_header_timeout, and the slack allowed on top of it.
HEADER_TIMEOUT_SECONDS = 5
ATTACK_LIMIT_SECONDS = 150
START_TIMEOUT = 30
# As docs/production.md and deploy/nginx-site.conf tell the operator to set them.
WORKER_CONNECTIONS = 8192
WORKER_RLIMIT_NOFILE = 20000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        sys.exit("nginx is not installed: make test-proxy installs it when run as root (apt-get install nginx)")
    return found


def signed_voice() -> bytes:
    params = {"CallSid": "CA" + "7" * 32, "From": "+12145550199", "To": "+12145550100", "CallStatus": "ringing"}
    body = urlencode(params).encode()
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_BASE_URL + "/voice", params)
    return (f"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\nX-Twilio-Signature: {signature}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def unsigned_post(many: bool) -> bytes:
    """Just under the 16 KB cap: 2,400 tiny parameters (refused unparsed), or 99 big ones (parsed,
    hashed, refused with 403)."""
    if many:
        body = b"&".join(b"a%d=1" % i for i in range(2400))[:16 * 1024 - 10]
    else:
        body = b"&".join(b"p%d=" % i + b"x" * 160 for i in range(99))
    return (b"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\nX-Twilio-Signature: forged\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body)) + body


def exchange(port: int, request: bytes, timeout: float = 30, source: str = TWILIO) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def wait_for(port: int, process: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5) == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} did not answer within {START_TIMEOUT} s:\n{log.read_text()[-2000:]}")


def nginx_conf(folder: Path, nginx_port: int, redirect_port: int, gunicorn_port: int) -> Path:
    conf = folder / "nginx.conf"
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile {WORKER_RLIMIT_NOFILE};
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} error;
events {{ worker_connections {WORKER_CONNECTIONS}; }}
http {{
    access_log off;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {ROOT / 'deploy' / 'nginx-http.conf'};
    upstream kyphoplasty_line {{
        server 127.0.0.1:{gunicorn_port};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{redirect_port};
        server_name ivr.example.org;
        return 301 https://$host$request_uri;
    }}
    server {{
        listen 127.0.0.1:{nginx_port};
        server_name ivr.example.org;
        include {ROOT / 'deploy' / 'nginx-proxy.conf'};
    }}
}}
""")
    if os.geteuid() == 0:  # nginx's workers run as nobody: let them use their temp folders
        for path in [folder, *temp.values()]:
            os.chmod(path, 0o777)
    return conf


# -- the attack -------------------------------------------------------------------------------


def slow_connections(port: int, count: int, stop: threading.Event, held: list[int]) -> None:
    """``count`` connections from the attacker, each sending a header line's byte every second and
    never finishing; one dropped by nginx is opened again at once."""
    start = b"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\n"
    sockets: list[socket.socket | None] = [None] * count
    started = [False] * count
    while not stop.wait(1):
        alive = 0
        for i, sock in enumerate(sockets):
            try:
                if sock is None:
                    sock = socket.socket()
                    sock.setblocking(False)
                    sock.bind((ATTACKER, 0))
                    sock.connect_ex(("127.0.0.1", port))
                    sockets[i], started[i] = sock, False
                    continue
                sock.send(b"X" if started[i] else start)
                started[i] = True
                alive += 1
            except BlockingIOError:
                alive += 1
            except OSError:
                sock.close()
                sockets[i] = None
        held[0] = max(held[0], alive)
    for sock in sockets:
        if sock is not None:
            sock.close()


def unsigned_poster(port: int, stop: threading.Event, many: bool, statuses: Counter) -> None:
    request = unsigned_post(many)
    while not stop.is_set():
        try:
            statuses[exchange(port, request, timeout=10, source=ATTACKER)] += 1
        except OSError:
            statuses["dropped"] += 1


def huge_poster(port: int, stop: threading.Event, sent: list[int]) -> None:
    chunk = b"Digits=" + b"1" * (1024 * 1024 - 7)
    head = (f"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {HUGE_BYTES}\r\n\r\n").encode()
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(ATTACKER, 0)) as sock:
                sock.sendall(head)
                for _ in range(HUGE_BYTES // len(chunk)):
                    if stop.is_set():
                        break
                    sock.sendall(chunk)
                sent[0] += 1
        except OSError:  # nginx refuses the body (413) and closes: post the next one
            sent[0] += 1


def attack(port: int, over, results) -> None:
    """The attacker's process: every attack at once, until ``over`` is set or ATTACK_LIMIT_SECONDS."""
    stop, held, sent, statuses = threading.Event(), [0], [0], Counter()
    attackers = [threading.Thread(target=slow_connections, args=(port, SLOW_CONNECTIONS, stop, held))]
    attackers += [threading.Thread(target=unsigned_poster, args=(port, stop, i % 2 == 0, statuses))
                  for i in range(UNSIGNED_POSTERS)]
    attackers += [threading.Thread(target=huge_poster, args=(port, stop, sent)) for _ in range(HUGE_POSTERS)]
    for thread in attackers:
        thread.daemon = True
        thread.start()
    over.wait(ATTACK_LIMIT_SECONDS)
    stop.set()
    for thread in attackers:
        thread.join(timeout=15)
    results.put((held, sent, dict(statuses)))


# -- the measurements -------------------------------------------------------------------------


def probe(port: int, count: int) -> tuple[list[float], list[int]]:
    seconds, statuses = [], []
    request = signed_voice()
    for _ in range(count):
        started = time.perf_counter()
        statuses.append(exchange(port, request))
        seconds.append(time.perf_counter() - started)
        time.sleep(0.25)
    return seconds, statuses


def cost(port: int, request: bytes) -> float:
    """Median seconds gunicorn takes for ``request``, straight to it, one at a time."""
    seconds = []
    for _ in range(COST_SAMPLES):
        started = time.perf_counter()
        exchange(port, request)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def slow_client_dropped_after(port: int) -> float:
    """Seconds until a server drops a client that sends a header byte a second."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(ATTACKER, 0)) as sock:
        try:
            for byte in b"GET / HTTP/1.1\r\n" + b"X" * 120:
                sock.sendall(bytes([byte]))
                time.sleep(1)
                if time.monotonic() - started > 30:
                    break
        except OSError:
            pass
    return time.monotonic() - started


def p99(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=100, method="inclusive")[98]


def main() -> int:
    nginx = nginx_binary()
    container_conf = ROOT / "deploy" / "nginx-container.conf"
    checked = subprocess.run([nginx, "-t", "-q", "-c", str(container_conf)], capture_output=True, text=True)
    print(f"the Docker image's nginx configuration ({container_conf.name}): "
          f"{'valid' if checked.returncode == 0 else 'INVALID ' + checked.stderr}")
    folder = Path(tempfile.mkdtemp(prefix="ivr-proxy-"))
    gunicorn_port, nginx_port, redirect_port = free_port(), free_port(), free_port()
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "CLINIC_PHONE_NUMBER": "+12145550100", "DATABASE_URL": f"sqlite:///{folder / 'calls.sqlite3'}",
           "CALLER_HASH_KEY": "proxy-test-caller-hash-key-0123456789", "AUDIO_DIR": str(folder / "no-audio"),
           "BIND": "127.0.0.1", "PORT": str(gunicorn_port), "WEB_CONCURRENCY": "2"}
    env.pop("IVR_DEV_INSECURE", None)
    gunicorn_log, nginx_log = folder / "gunicorn.log", folder / "error.log"
    servers = [subprocess.Popen([sys.executable, "-m", "gunicorn", "app:app"], cwd=ROOT,
                                env=env, stdout=gunicorn_log.open("w"), stderr=subprocess.STDOUT)]
    stop, attacker = threading.Event(), None
    try:
        wait_for(gunicorn_port, servers[0], "gunicorn", gunicorn_log)
        conf = nginx_conf(folder, nginx_port, redirect_port, gunicorn_port)
        servers.append(subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        wait_for(nginx_port, servers[1], "nginx", nginx_log)
        print(f"nginx 127.0.0.1:{nginx_port} (deploy/nginx-http.conf, deploy/nginx-proxy.conf; redirect server "
              f"on {redirect_port}) -> gunicorn 127.0.0.1:{gunicorn_port}, 2 sync workers; logs in {folder}")

        signed_cost = cost(gunicorn_port, signed_voice())
        unsigned_costs = {many: cost(gunicorn_port, unsigned_post(many)) for many in (True, False)}
        print(f"gunicorn alone, median: signed /voice {signed_cost * 1000:.1f} ms; unsigned 16 KB post of 2,400 "
              f"parameters {unsigned_costs[True] * 1000:.1f} ms (413), of 99 parameters "
              f"{unsigned_costs[False] * 1000:.1f} ms (403)")
        baseline, _ = probe(nginx_port, PROBES)

        # The attacker is another process: its threads must not slow the probe's own Python down.
        attack_over, results = multiprocessing.Event(), multiprocessing.Queue()
        attacker = multiprocessing.Process(target=attack, args=(nginx_port, attack_over, results), daemon=True)
        attacker.start()
        time.sleep(5)  # the slow connections are all open before the first probe
        seconds, probe_statuses = probe(nginx_port, PROBES)
        redirect_drop = slow_client_dropped_after(redirect_port)
        attack_over.set()
        held, sent, statuses = results.get(timeout=60)
        attacker.join(timeout=15)
    finally:
        stop.set()
        if attacker is not None and attacker.is_alive():
            attacker.kill()
        for server in reversed(servers):
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"without an attack: {PROBES} signed /voice through nginx, median {statistics.median(baseline) * 1000:.0f} ms, "
          f"p99 {p99(baseline) * 1000:.0f} ms")
    print(f"from one other address, {held[0]} slow connections held open, {UNSIGNED_POSTERS} threads of unsigned "
          f"posts (answers: {dict(sorted(statuses.items(), key=str))}) and {HUGE_POSTERS} threads of 10 MB posts "
          f"({sent[0]} refused): {PROBES} signed /voice, statuses {sorted(set(probe_statuses))}, median "
          f"{statistics.median(seconds) * 1000:.0f} ms, p99 {p99(seconds) * 1000:.0f} ms "
          f"(target < {TARGET_SECONDS * 1000:.0f} ms)")
    print(f"the port-80 redirect server dropped a slow client after {redirect_drop:.1f} s "
          f"(client_header_timeout {HEADER_TIMEOUT_SECONDS} s)")
    checks = {
        "every signed /voice answered 200": probe_statuses == [200] * PROBES,
        f"p99 under {TARGET_SECONDS} s": p99(seconds) < TARGET_SECONDS,
        f"{SLOW_CONNECTIONS} slow connections were held": held[0] >= SLOW_CONNECTIONS * 0.95,
        f"an unsigned post costs at most {UNSIGNED_COST_RATIO}x a signed /voice":
            max(unsigned_costs.values()) <= UNSIGNED_COST_RATIO * signed_cost,
        "the redirect server drops slow clients": redirect_drop <= HEADER_TIMEOUT_SECONDS + 2,
        "the Docker image's nginx configuration is valid": checked.returncode == 0,
    }
    for check, ok in checks.items():
        print(f"{'met   ' if ok else 'MISSED'} {check}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
