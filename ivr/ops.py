"""Running the line in production: a health check, Twilio's fallback URL, one log line per webhook.

The log line is JSON, one per webhook request of every blueprint, with what an operator
needs to follow a call (call SID, endpoint, menu, language, HTTP status, milliseconds) and
nothing from the caller: phone numbers and what they said never reach the log.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, current_app, g, jsonify, request, url_for
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from . import flow, signatures, views
from .guard import quoted
from .script import LANGUAGES
from .simulator import SIMULATED_CALL

bp = Blueprint("ops", __name__)
webhook_log = logging.getLogger("ivr.webhooks")


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is when a line is logged, as logging's own last resort does."""

    def __init__(self):
        logging.Handler.__init__(self)  # not StreamHandler's, which would set a fixed stream

    @property
    def stream(self):
        return sys.stderr


_stderr = _StderrHandler()
_stderr.setFormatter(logging.Formatter("%(message)s"))


@bp.record_once
def _log_to_stderr(state) -> None:
    # Plain JSON lines to stderr, which gunicorn (errorlog "-") and `flask run` print: they
    # configure no logging for us. Not Flask's wsgi_errors_stream, the same stream reached
    # through the request, which cost a fifth of the line (see make bench); not also through
    # the app logger's handler, which would print each line twice.
    if not webhook_log.handlers:
        webhook_log.addHandler(_stderr)
        webhook_log.setLevel(logging.INFO)
        webhook_log.propagate = False


@bp.before_app_request
def _start_clock() -> None:
    g.ivr_started = time.perf_counter()


@bp.after_app_request
def _log_webhook(response):
    # A simulated call (make simulate, /preview) is not a call: its transcript stays clean.
    if request.method == "POST" and not request.environ.get(SIMULATED_CALL) and webhook_log.isEnabledFor(logging.INFO):
        line = json.dumps({
            "call": request.form.get("CallSid", "")[:64],
            "endpoint": request.endpoint,
            "at": (request.view_args or {}).get("at"),
            "lang": flow.parse_lang(request.args.get("lang")),
            "status": response.status_code,
            "ms": round((time.perf_counter() - g.get("ivr_started", time.perf_counter())) * 1000, 2),
        })
        if webhook_log.handlers == [_stderr] and not webhook_log.filters:
            # What our handler alone would do, without a log record (a third of the line's cost).
            sys.stderr.write(line + "\n")
        else:  # another handler too (tests, an operator's logging setup): through logging
            webhook_log.handle(webhook_log.makeRecord(webhook_log.name, logging.INFO, __file__, 0, line, None, None))
    return response


@bp.get("/healthz")
def healthz():
    """For load balancers and container health checks: unsigned, says nothing secret."""
    try:
        script = views.script()
        prompts = script.prompt_ids()
        for prompt_id in prompts:
            for lang in LANGUAGES:
                script.text(prompt_id, lang)
    except Exception:
        current_app.logger.exception("health check failed: the scripts cannot be read")
        return jsonify(status="scripts unreadable"), 503
    # The version new calls hear, as the reload log line names it: on-call can see an edit went live.
    # A rejected edit is no outage (the last good version speaks), so it stays a 200.
    store = current_app.extensions["ivr.scripts"]
    scripts = {"scripts": store.state, "rejected": store.rejected} if store.rejected else {"scripts": store.state}
    return jsonify(status="ok", prompts=len(prompts), languages=list(LANGUAGES),
                   script_version=g.ivr_script_version, **scripts)


@bp.before_request
def _check_signature():
    if request.method == "POST":
        return signatures.check_signature()


@bp.post("/fallback")
def fallback():
    """Twilio's fallback URL, requested when a webhook failed (an error, a timeout, bad TwiML).

    Apologise, in the caller's language when the failed URL (``ErrorUrl``) says which, and
    go to the clinic; the transfer handles a missing clinic number (voicemail) and a second
    failure on the way hangs up politely instead of looping.
    """
    lang = flow.parse_lang(_query_value(request.form.get("ErrorUrl", ""), "lang"))
    response = VoiceResponse()
    views.apology(response, lang)
    response.redirect(url_for("ivr.clinic", lang=lang, after_error=1))
    return views.twiml(response)


@bp.errorhandler(Exception)
def _last_words(error):
    """Even the fallback failed: say sorry in both languages and end the call, never a 500."""
    if isinstance(error, HTTPException):
        return error
    current_app.logger.exception("fallback failed (call %s)", quoted(request.form.get("CallSid", "?")))
    response = VoiceResponse()
    for lang in LANGUAGES:
        views.say_text(response, views.FALLBACK_APOLOGY[lang], lang)
    response.hangup()
    return views.twiml(response), 200


def _query_value(url: str, name: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get(name) or [None])[0]
