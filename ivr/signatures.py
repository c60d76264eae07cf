"""Every webhook is checked against Twilio's signature (X-Twilio-Signature), with the SDK's
``RequestValidator``: a request without a valid one gets 403 and never reaches the call flow.
"""
from __future__ import annotations

from flask import abort, current_app, request
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from .guard import quoted


def check_signature():
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token:  # IVR_DEV_INSECURE=1, warned about at start-up
        return
    base = current_app.config["PUBLIC_BASE_URL"]
    # Behind a proxy or TLS terminator, Twilio signed the public URL, not the one we see.
    url = base.rstrip("/") + request.script_root + request.full_path.rstrip("?") if base else request.url
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(url, _SignedParams(request.form.lists()), signature, algorithm):
        # The URL is the usual culprit: PUBLIC_BASE_URL must be the address set in Twilio.
        current_app.logger.warning("rejected unsigned or wrongly signed request: signature checked against %s",
                                   quoted(url))
        abort(403)


class _SignedParams(dict):
    """The form as RequestValidator reads it fastest: it asks ``getall`` first, and a
    werkzeug MultiDict has none, which cost one exception per parameter (see make bench)."""

    def getall(self, name: str) -> list[str]:
        return self[name]
