"""gunicorn settings for production: ``gunicorn app:app`` reads this file from the working directory."""
import os

# Only the reverse proxy on this host talks to the workers (deploy/nginx.conf): a sync worker
# must never face a slow client itself. BIND changes the address (e.g. 0.0.0.0 in a container
# whose proxy runs elsewhere); PORT the port.
bind = f"{os.environ.get('BIND', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Each webhook is under a millisecond of CPU (see `make bench`). Sync workers, 2 per CPU plus
# one as gunicorn suggests: behind a TLS proxy (which buffers slow clients) they are what
# gunicorn recommends. In `make bench` threads served about as many requests, with twice the
# p99 (README, *Performance*).
# In a container os.cpu_count() is the host's CPUs, not this process's share: count the CPUs
# it may run on, and let WEB_CONCURRENCY (gunicorn's own convention) override the formula.
if os.environ.get("WEB_CONCURRENCY"):
    workers = int(os.environ["WEB_CONCURRENCY"])
else:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = 2 * cpus + 1
worker_class = "sync"
# Twilio gives up on a webhook after 15 s and plays its own error: a worker stuck for 10 s
# is restarted first, so the caller's next step finds a live one.
timeout = 10
graceful_timeout = 10
# Load and validate the scripts once, before forking: a broken script stops start-up with
# its file:line message instead of every worker failing in turn.
preload_app = True
# gunicorn's control socket (gunicornc) is not used: off, so that two instances on one host
# cannot delete each other's (issue 19).
control_socket_disable = True
# The app writes one JSON line per webhook (ivr/ops.py); an access log would repeat it.
accesslog = None
errorlog = "-"


def worker_exit(server, worker):
    # The call log queues each step's row for a background thread (ivr/calllog.py): a worker
    # that stops writes what it still holds, unless the database hangs: then its spool file keeps it.
    from ivr import calllog

    calllog.flush(calllog.EXIT_FLUSH_SECONDS)


def post_worker_init(worker):
    # Each worker sends the voicemail e-mails waiting in the outbox (ivr/voicemail_email.py),
    # from the start, even before its first call; holds again the call log rows a killed worker
    # left in its spool file, and connects its readers (ivr/calllog.py).
    from ivr import calllog, voicemail_email

    voicemail_email.start(worker.wsgi)
    calllog.recover()
    calllog.prepare_readers()
