"""The line's own signature check gives the SDK's verdict, exactly, on generated requests.

``signatures.Signer`` computes Twilio's HMAC itself on the common path (see its docstring); the
differential test below holds it to ``RequestValidator.validate`` on the URL and form the SDK
would be given: base URLs with and without ports, paths and query strings with unicode and odd
characters, repeated parameters and values, ``bodySHA256`` in the query, every algorithm name,
signatures made for the URL with or without the port, for other parameters, or garbage.
"""
from __future__ import annotations

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator, add_port, remove_port
from urllib.parse import urlparse
from werkzeug.datastructures import MultiDict

from conftest import AUTH_TOKEN, PUBLIC_BASE_URL, sign, signed_post
from ivr.signatures import _PLAIN_TAIL, Signer, _SignedParams

PLAIN_BASES = ["https://ivr.example.org", "https://ivr.example.org/", "http://ivr.example.org",
               "https://ivr.example.org:443", "https://ivr.example.org:8443", "http://ivr.example.org:80",
               "https://ivr.example.org:0", "https://IVR.Example.org", "https://ivr.example.org/line",
               "https://user:pw@ivr.example.org:8443", "https://127.0.0.1:5000", "https://[::1]:8443"]
ODD_BASES = ["HTTPS://ivr.example.org", "https://ivr.example.org:65536", "https://ivr.example.org:x",
             "https://ivr.example.org/a;b", "https://ivr.example.org/?q=1", "https://ivr.example.org#top",
             "https://bücher.example", "https://ivr.example.org/line%20one", " https://ivr.example.org", "ivr.example.org"]
BASES = st.one_of(st.sampled_from(PLAIN_BASES), st.sampled_from(PLAIN_BASES + ODD_BASES))
# Characters of a path or query string: those urllib keeps as they are, and those it rewrites or splits at.
PLAIN_CHARS = list("abcXYZ019-._~%!$&'()*+,/:=?@")
URL_CHARS = st.one_of(st.text(st.sampled_from(PLAIN_CHARS), max_size=20),
                      st.text(st.sampled_from(PLAIN_CHARS + list("#; \t\r\n\"<>[]\\^`{|}") + ["é", "ñ", "€", "\x00"]),
                              max_size=20))
QUERIES = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.sampled_from(["at", "lang", "v", "tries", "bodySHA256", "é"]), URL_CHARS), min_size=1, max_size=4)
    .map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs)),
)
TAILS = st.builds(lambda root, path, query: root + "/" + path + query, st.sampled_from(["", "/line"]), URL_CHARS, QUERIES)
PARAMS = st.lists(st.tuples(st.sampled_from(["CallSid", "Digits", "SpeechResult", "From", "To", "", "é", "Digits "]),
                            st.text(max_size=6)), max_size=8)
ALGORITHMS = st.sampled_from([None, "", "HMAC_SHA1", "HMAC_SHA256", "hmac_sha256", "Hmac_Sha1", "HMAC_MD5", "sha1"])


def sdk_verdict(token, url, form, signature, algorithm):
    try:
        return RequestValidator(token).validate(url, _SignedParams(form.lists()), signature, algorithm)
    except Exception as error:  # e.g. a port that is not a number
        return type(error)


def own_verdict(token, base, tail, form, signature, algorithm):
    try:
        return Signer(token, base).is_valid(tail, form.lists(), signature, algorithm)
    except Exception as error:
        return type(error)


@st.composite
def signatures(draw, token, url, pairs):
    """A signature as Twilio would make it for this URL (with or without its port), for other
    parameters or another URL, or not one at all."""
    kind = draw(st.sampled_from(["without port", "with port", "other params", "other url", "garbage"]))
    algorithm = draw(st.sampled_from(["HMAC_SHA1", "HMAC_SHA256"]))
    try:
        parsed = urlparse(url)
        signed_url = {"without port": remove_port, "with port": add_port}.get(kind, lambda p: url)(parsed)
    except ValueError:
        signed_url = url
    if kind == "other url":
        signed_url += draw(st.sampled_from(["/", "?", "x", "%20"]))
    if kind == "garbage":
        return draw(st.one_of(st.text(max_size=30), st.just(""), st.just("é" * 28)))
    signed = MultiDict(pairs + ([("Digits", "9")] if kind == "other params" else []))
    return RequestValidator(token).compute_signature(signed_url, _SignedParams(signed.lists()), algorithm)


@settings(max_examples=400)
@given(data=st.data(), base=BASES, tail=TAILS, pairs=PARAMS, algorithm=ALGORITHMS,
       token=st.sampled_from([AUTH_TOKEN, "tökén"]))
@example(data=None, base=PUBLIC_BASE_URL, tail="/ivr/choose/topics?lang=en&tries=0&v=0a1b2c3d", pairs=[("Digits", "1")],
         algorithm=None, token=AUTH_TOKEN)
# An empty query: the SDK's rebuilt URL drops the "?" (found by a run of 20,000 random cases).
@example(data=None, base=PUBLIC_BASE_URL, tail="/?", pairs=[], algorithm=None, token=AUTH_TOKEN)
@example(data=None, base=PUBLIC_BASE_URL, tail="/voice?a=1?", pairs=[], algorithm=None, token=AUTH_TOKEN)
def test_the_own_check_gives_the_sdks_verdict(data, base, tail, pairs, algorithm, token):
    url = base.rstrip("/") + tail
    form = MultiDict(pairs)
    if data is None:  # the explicit example: a correct signature
        signature = RequestValidator(token).compute_signature(url, _SignedParams(form.lists()))
    else:
        signature = data.draw(signatures(token, url, pairs))
    expected = sdk_verdict(token, url, form, signature, algorithm)
    event(f"verdict {expected}; {'own' if Signer(token, base).prefixes and _PLAIN_TAIL.fullmatch(tail) else 'SDK'} path")
    assert own_verdict(token, base, tail, form, signature, algorithm) == expected


def test_plain_requests_take_the_own_path_and_the_rest_the_sdks(monkeypatch):
    checker = Signer(AUTH_TOKEN, PUBLIC_BASE_URL)
    assert checker.prefixes == ("https://ivr.example.org", "https://ivr.example.org:443")
    asked = []
    monkeypatch.setattr(checker.validator, "validate", lambda *args: asked.append(args[0]) or False)
    form = MultiDict({"Digits": "1"})
    assert checker.is_valid("/ivr/choose/topics?lang=en", form.lists(), sign(PUBLIC_BASE_URL + "/ivr/choose/topics?lang=en",
                                                                          {"Digits": "1"}), None)
    assert asked == []
    odd = ("/ivr/choose/tópicos", "/voice#x", "/a;b", "/a b", "/voice?")
    for tail in odd:
        checker.is_valid(tail, form.lists(), "x", None)
    checker.is_valid("/voice", form.lists(), "x", "HMAC_MD5")
    assert asked == [PUBLIC_BASE_URL + tail for tail in (*odd, "/voice")]
    assert Signer(AUTH_TOKEN, "https://ivr.example.org:x").prefixes is None


@pytest.mark.parametrize("path", ["/voice", "/ivr/menu/topics?lang=es"])
def test_signed_requests_pass_and_tampered_ones_get_403(client, path):
    assert signed_post(client, path).status_code == 200
    signature = sign(PUBLIC_BASE_URL + path, {"CallSid": "CA" + "0" * 32, "From": "+12145559876"})
    tampered = client.post(path, data={"CallSid": "CA" + "0" * 32, "From": "+12145559877"},
                           headers={"X-Twilio-Signature": signature})
    assert tampered.status_code == 403
