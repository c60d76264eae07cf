# The line as a container:
#   docker build -t kyphoplasty-line .
#   docker run -p 8000:8000 -e TWILIO_AUTH_TOKEN=... -e CLINIC_PHONE_NUMBER=... \
#       -e PUBLIC_BASE_URL=https://... -e CALLER_HASH_KEY=... -e DATABASE_URL=postgresql://... kyphoplasty-line
FROM python:3.11-slim

# The proxy is outside the container: gunicorn listens on every address of it (the default is 127.0.0.1).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 BIND=0.0.0.0
WORKDIR /app
RUN useradd --create-home --uid 10001 ivr

COPY pyproject.toml app.py gunicorn.conf.py ./
COPY ivr ./ivr
# check holds every number and medicine in the scripts to the clinic's article.
COPY docs/source-article.txt ./docs/
# With the PostgreSQL driver: several containers share one call log through DATABASE_URL.
RUN pip install --no-cache-dir ".[postgres]" && rm -rf build *.egg-info
# Recorded prompts as built by `make audio` before `docker build` (or served from a CDN
# through AUDIO_BASE_URL); without them every prompt is said by Twilio's voice.
COPY audio ./audio
# Without DATABASE_URL the call log is SQLite in instance/, and so is the last good version of the
# scripts (scripts-last-good/): mount a volume there to keep them.
RUN mkdir instance && chown ivr instance

USER ivr
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"
CMD ["gunicorn", "app:app"]
