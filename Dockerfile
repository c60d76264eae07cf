# The line as a container: `docker build -t kyphoplasty-line .` then
# `docker run -p 8000:8000 -e TWILIO_AUTH_TOKEN=... -e CLINIC_PHONE_NUMBER=... -e PUBLIC_BASE_URL=https://... kyphoplasty-line`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000
WORKDIR /app
RUN useradd --create-home --uid 10001 ivr

COPY pyproject.toml app.py gunicorn.conf.py ./
COPY ivr ./ivr
RUN pip install --no-cache-dir . && rm -rf build *.egg-info
# Recorded prompts: copy a built audio/ folder here (or serve it from a CDN via AUDIO_BASE_URL).

USER ivr
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"
CMD ["gunicorn", "app:app"]
