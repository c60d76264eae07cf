"""``make test-proxy``: Debian's nginx with deploy/nginx-proxy.conf in front of the line's gunicorn,
on loopback, attacked as in issue 13 while a real caller's signed /voice is timed.

Eight threads post 10 MB unsigned bodies over and over, and five connections trickle their
headers or body a byte at a time; meanwhile PROBES signed /voice requests, one after the other,
must each answer 200 and the p99 (with 20 probes, the slowest) must be under TARGET_SECONDS.
Everything is bounded: the attack stops when the probes are done, or after ATTACK_LIMIT_SECONDS.
Exits 1 if the target is missed. Not a pytest test: it needs nginx and takes about a minute.
"""
from __future__ import annotations

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
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "proxy-test-auth-token"
PUBLIC_BASE_URL = "https://ivr.example.org"
PROBES = 20
TARGET_SECONDS = 1.0
HUGE_POSTERS = 8
HUGE_BYTES = 10 * 1024 * 1024
SLOW_CLIENTS = 5
ATTACK_LIMIT_SECONDS = 120
START_TIMEOUT = 30


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


def exchange(port: int, request: bytes, timeout: float = 30) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
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


def nginx_conf(folder: Path, nginx_port: int, gunicorn_port: int) -> Path:
    conf = folder / "nginx.conf"
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    conf.write_text(f"""
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    upstream kyphoplasty_line {{
        server 127.0.0.1:{gunicorn_port};
        keepalive 16;
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


def huge_poster(port: int, stop: threading.Event, sent: list[int]) -> None:
    chunk = b"Digits=" + b"1" * (1024 * 1024 - 7)
    head = (f"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {HUGE_BYTES}\r\n\r\n").encode()
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(head)
                for _ in range(HUGE_BYTES // len(chunk)):
                    if stop.is_set():
                        break
                    sock.sendall(chunk)
                sent[0] += 1
        except OSError:  # nginx refuses the body (413) and closes: post the next one
            sent[0] += 1


def slow_client(port: int, stop: threading.Event, body: bool) -> None:
    """A byte of headers (or of a body) a second, reconnecting when nginx drops the connection."""
    request = (b"POST /voice HTTP/1.1\r\nHost: ivr.example.org\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: 60000\r\n")
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                if body:
                    sock.sendall(request + b"\r\n")
                for byte in (b"CallSid=CA1&" * 5000 if body else request):
                    if stop.wait(1):
                        return
                    sock.sendall(bytes([byte]))
        except OSError:
            pass


def main() -> int:
    nginx = nginx_binary()
    folder = Path(tempfile.mkdtemp(prefix="ivr-proxy-"))
    gunicorn_port, nginx_port = free_port(), free_port()
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "CLINIC_PHONE_NUMBER": "+12145550100", "DATABASE_URL": f"sqlite:///{folder / 'calls.sqlite3'}",
           "CALLER_HASH_KEY": "proxy-test-caller-hash-key-0123456789", "AUDIO_DIR": str(folder / "no-audio"),
           "BIND": "127.0.0.1", "PORT": str(gunicorn_port), "WEB_CONCURRENCY": "2"}
    env.pop("IVR_DEV_INSECURE", None)
    gunicorn_log, nginx_log = folder / "gunicorn.log", folder / "error.log"
    servers = [subprocess.Popen([sys.executable, "-m", "gunicorn", "--no-control-socket", "app:app"], cwd=ROOT,
                                env=env, stdout=gunicorn_log.open("w"), stderr=subprocess.STDOUT)]
    stop = threading.Event()
    try:
        wait_for(gunicorn_port, servers[0], "gunicorn", gunicorn_log)
        conf = nginx_conf(folder, nginx_port, gunicorn_port)
        servers.append(subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        wait_for(nginx_port, servers[1], "nginx", nginx_log)
        print(f"nginx 127.0.0.1:{nginx_port} (deploy/nginx-proxy.conf) -> gunicorn 127.0.0.1:{gunicorn_port}, "
              f"2 sync workers; logs in {folder}")

        sent = [0]
        attackers = [threading.Thread(target=huge_poster, args=(nginx_port, stop, sent)) for _ in range(HUGE_POSTERS)]
        attackers += [threading.Thread(target=slow_client, args=(nginx_port, stop, i % 2 == 1))
                      for i in range(SLOW_CLIENTS)]
        for thread in attackers:
            thread.start()
        threading.Timer(ATTACK_LIMIT_SECONDS, stop.set).start()
        time.sleep(2)  # the attack is under way before the first probe
        seconds, statuses = [], []
        request = signed_voice()
        for _ in range(PROBES):
            started = time.perf_counter()
            statuses.append(exchange(nginx_port, request))
            seconds.append(time.perf_counter() - started)
            time.sleep(0.25)
        stop.set()
        for thread in attackers:
            thread.join(timeout=15)
    finally:
        stop.set()
        for server in reversed(servers):
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98]
    print(f"under {HUGE_POSTERS} parallel {HUGE_BYTES // 2**20} MB unsigned posts (posted {sent[0]}) and "
          f"{SLOW_CLIENTS} slow connections: {PROBES} signed /voice, statuses {sorted(set(statuses))}, "
          f"median {statistics.median(seconds) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (target < {TARGET_SECONDS * 1000:.0f} ms)")
    ok = p99 < TARGET_SECONDS and statuses == [200] * PROBES
    print("met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
