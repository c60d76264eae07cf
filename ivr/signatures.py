"""Every webhook is checked against Twilio's signature (X-Twilio-Signature): a request without a
valid one gets 403 and never reaches the call flow.

The verdict is always that of the SDK's ``RequestValidator.validate`` on the public URL and the
form. The SDK spends most of a webhook's check parsing and rebuilding the URL twice (with and
without the port, as Twilio may have signed either); ``Signer`` does that once per app for the
``PUBLIC_BASE_URL`` part and appends the request's path, and computes the same HMACs over the
same strings. It does so only where appending is provably what the SDK's parse-and-rebuild gives
(a plain base URL, a path and query of plain ASCII URL characters, a known algorithm); anything
else goes to the SDK itself. tests/test_signatures.py compares the two verdicts on generated
requests (docs/performance.md).
"""
from __future__ import annotations

import base64
import hmac
import re
from hashlib import sha1, sha256
from urllib.parse import urlparse

from flask import abort, current_app, request
from twilio.request_validator import (HMAC_SHA1, HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator, add_port,
                                      get_signature_algorithm, remove_port)

from .guard import quoted

# Path and query characters that urllib's parse-and-rebuild (in the SDK) leaves exactly as they are:
# printable ASCII without the fragment mark, the path-parameter mark and the characters URLs quote;
# not ending with "?", an empty query, which the rebuild drops.
_PLAIN_TAIL = re.compile(r"/[A-Za-z0-9\-._~%!$&'()*+,/:=?@]*(?<!\?)")
_HASHES = {HMAC_SHA1: sha1, HMAC_SHA256: sha256}


class Signer:
    """The signature check for one auth token and public base URL, prepared once."""

    def __init__(self, token: str, base_url: str):
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.prefixes = _prefixes(self.base_url)
        self._macs = {name: hmac.new(token.encode("utf-8"), digestmod=digest) for name, digest in _HASHES.items()}

    def is_valid(self, tail: str, form_lists, signature: str, algorithm: str | None) -> bool:
        """Whether ``signature`` signs the public URL ``base_url + tail`` and the form (its ``lists()``)
        under ``algorithm``: exactly RequestValidator(token).validate(url, form, signature, algorithm)."""
        mac = self._macs.get((algorithm or HMAC_SHA1).upper())
        if mac is None or self.prefixes is None or not signature.isascii() or not _PLAIN_TAIL.fullmatch(tail):
            return self.validator.validate(self.base_url + tail, _SignedParams(form_lists), signature, algorithm)
        # As the SDK: each name once, in order, followed by each of its distinct values, in order.
        signed = "".join(name + value for name, values in sorted(form_lists) for value in sorted(set(values)))
        expected = signature.encode("ascii")
        for prefix in self.prefixes:
            each = mac.copy()
            each.update(f"{prefix}{tail}{signed}".encode("utf-8"))
            if hmac.compare_digest(base64.b64encode(each.digest()), expected):
                return True
        return False


def _prefixes(base_url: str) -> tuple[str, str] | None:
    """The base URL as the SDK signs it without and with the port, when appending a plain path to
    it is all that the SDK's parse-and-rebuild does; else None (the SDK checks every request)."""
    try:
        parsed = urlparse(base_url)
        plain = (base_url.isascii() and parsed.scheme in ("http", "https") and parsed.netloc
                 and not (parsed.params or parsed.query or parsed.fragment)
                 and not any(mark in base_url for mark in "#;?\\ \t\r\n") and parsed.geturl() == base_url)
        if not plain:
            return None
        probe = urlparse(base_url + "/")
        without, with_port = remove_port(probe), add_port(probe)
    except ValueError:  # a port that is not a number: the SDK says what is wrong, on every request
        return None
    if not (without.endswith("/") and with_port.endswith("/")):
        return None
    return without[:-1], with_port[:-1]


def signer(app) -> Signer:
    """``app``'s Signer, made again only if its token or base URL changed."""
    token, base_url = app.config["TWILIO_AUTH_TOKEN"], app.config["PUBLIC_BASE_URL"]
    made = app.extensions.get("ivr.signer")
    if made is None or made.token != token or made.base_url != base_url.rstrip("/"):
        made = app.extensions["ivr.signer"] = Signer(token, base_url)
    return made


def check_signature():
    # The objects behind Flask's proxies, looked up once (each look-up costs about 2 µs).
    app, incoming = current_app._get_current_object(), request._get_current_object()
    if not app.config["TWILIO_AUTH_TOKEN"]:  # IVR_DEV_INSECURE=1, warned about at start-up
        return
    algorithm = get_signature_algorithm(incoming.headers.get(SIGNATURE_SETTINGS_HEADER))
    signature = incoming.headers.get("X-Twilio-Signature", "")
    if app.config["PUBLIC_BASE_URL"]:
        # Behind a proxy or TLS terminator, Twilio signed the public URL, not the one we see.
        check = signer(app)
        tail = incoming.script_root + incoming.full_path.rstrip("?")
        if check.is_valid(tail, incoming.form.lists(), signature, algorithm):
            return
        url = check.base_url + tail
    else:
        url = incoming.url
        if RequestValidator(app.config["TWILIO_AUTH_TOKEN"]).validate(
                url, _SignedParams(incoming.form.lists()), signature, algorithm):
            return
    # The URL is the usual culprit: PUBLIC_BASE_URL must be the address set in Twilio.
    app.logger.warning("rejected unsigned or wrongly signed request: signature checked against %s", quoted(url))
    abort(403)


class _SignedParams(dict):
    """The form as RequestValidator reads it fastest: it asks ``getall`` first, and a
    werkzeug MultiDict has none, which cost one exception per parameter (see make bench)."""

    def getall(self, name: str) -> list[str]:
        return self[name]
