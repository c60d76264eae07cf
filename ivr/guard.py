"""What every request meets before the app does any work: limits on its body, and request data
in log lines only JSON-escaped.

Twilio's webhooks are form posts of a few KB with a Content-Length. Anything else is refused
here, before Flask parses a form, checks a signature or writes the log line, so a huge, chunked
or multipart body costs a worker next to nothing and can never end in a 500 or a traceback.
The reverse proxy (deploy/nginx.conf) has the same limit; this one holds without it.
"""
from __future__ import annotations

import io
import json
import logging

# Twilio's posts are a few KB (its longest, a Gather's answer with a minute of speech, under 4 KB);
# the preview page's JSON is smaller still. An unsigned body is parsed and hashed (twice, by the
# SDK) before its 403: at 64 KB that cost 2-3 times a signed /voice (issue 19), at 16 KB less.
MAX_BODY_BYTES = 16 * 1024
# Content types Twilio sends (and the preview page's JSON); anything else with a body is refused.
FORM = "application/x-www-form-urlencoded"
ACCEPTED_TYPES = {FORM, "application/json"}
# Twilio's richest post (a Gather's answer with speech, caller and called details) has about
# 40 parameters. A 64 KB body of 9,500 tiny ones cost 0.2 s of a worker to parse and hash
# before its 403 (issue 19): counted before any parsing, such a body costs a byte search.
MAX_PARAMETERS = 100

webhook_log = logging.getLogger("ivr.webhooks")


def quoted(value) -> str:
    """Request data for a log line: JSON-escaped, so a newline in a URL or header cannot start
    a forged line."""
    return json.dumps(str(value))


class RequestLimits:
    """WSGI middleware in front of the Flask app."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        refusal = _refusal(environ) or _too_many_parameters(environ)
        if refusal is None:
            return self.app(environ, start_response)
        status, reason = refusal
        webhook_log.info(json.dumps({"refused": int(status.split()[0]), "reason": reason,
                                     "path": environ.get("PATH_INFO", "")[:200]}))
        body = f"{reason}\n".encode()
        # Connection: close, as the rest of the body is never read.
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body))), ("Connection", "close")])
        return [body]


def _refusal(environ) -> tuple[str, str] | None:
    if environ.get("HTTP_TRANSFER_ENCODING", "").strip():
        return "411 Length Required", "a body must come with Content-Length"
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        return "400 Bad Request", "Content-Length is not a number of bytes"
    if length > MAX_BODY_BYTES:
        return "413 Content Too Large", f"the body is over {MAX_BODY_BYTES} bytes"
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if length and content_type not in ACCEPTED_TYPES:
        return "415 Unsupported Media Type", "webhooks are form posts (application/x-www-form-urlencoded)"
    return None


def _too_many_parameters(environ) -> tuple[str, str] | None:
    """A form's parameters are counted in its raw bytes (at most MAX_BODY_BYTES, read here and
    handed on unchanged), before Werkzeug parses one."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != FORM:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    if body.count(b"&") >= MAX_PARAMETERS:
        return "413 Content Too Large", f"more than {MAX_PARAMETERS} form parameters"
    return None
