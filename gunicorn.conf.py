"""gunicorn settings for production: ``gunicorn app:app`` reads this file from the working directory."""
import os

# Twilio posts to the line on this port (behind the TLS proxy).
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Each webhook is a short burst of CPU (about a millisecond, see `make bench`); threads keep
# one slow step (a database write, a stalled connection) from holding up a whole worker.
workers = 2 * (os.cpu_count() or 1)
worker_class = "gthread"
threads = 4
# Twilio gives up on a webhook after 15 s and plays its own error: restart a worker that has
# hung for 10 s instead, and never keep a caller waiting that long on a restart.
timeout = 10
graceful_timeout = 10
keepalive = 5
# Load and validate the scripts once, before forking: a broken script stops start-up with
# its file:line message instead of every worker failing in turn.
preload_app = True
# The app writes one JSON line per webhook (ivr/ops.py); an access log would repeat it.
accesslog = None
errorlog = "-"
