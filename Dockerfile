# The line as a container:
#   docker build -t kyphoplasty-line .
#   docker run -p 8080:8080 -e TWILIO_AUTH_TOKEN=... -e CLINIC_PHONE_NUMBER=... \
#       -e PUBLIC_BASE_URL=https://... -e CALLER_HASH_KEY=... -e DATABASE_URL=postgresql://... kyphoplasty-line
# Inside, Debian's nginx answers on port 8080 with the limits of deploy/ (slow and huge clients,
# per-address floods) and hands whole requests to gunicorn's sync workers, which listen on the
# container's loopback only (issue 19: 8 slow connections straight to them stalled a call 20 s).
# TLS is the load balancer's or a host proxy's job in front of port 8080.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 BIND=127.0.0.1
WORKDIR /app
RUN useradd --create-home --uid 10001 ivr

COPY pyproject.toml app.py gunicorn.conf.py ./
COPY ivr ./ivr
# check holds every number and medicine in the scripts to the clinic's article.
COPY docs/source-article.txt ./docs/
COPY deploy ./deploy
# With the PostgreSQL driver: several containers share one call log through DATABASE_URL.
RUN pip install --no-cache-dir ".[postgres]" && rm -rf build *.egg-info
# Recorded prompts as built by `make audio` before `docker build` (or served from a CDN
# through AUDIO_BASE_URL); without them every prompt is said by Twilio's voice.
COPY audio ./audio
# Without DATABASE_URL the call log is SQLite in instance/: mount a volume there to keep it (the
# spool files of a database outage and the last good version of the scripts are kept there too).
RUN mkdir instance && chown ivr instance

USER ivr
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
CMD ["/app/deploy/container-start.sh"]
