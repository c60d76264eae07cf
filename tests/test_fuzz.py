"""Property tests: whatever arrives at any webhook, the caller gets TwiML, never a crash.

The webhooks are read from the app's URL map, so every POST route of every blueprint is
covered, including ones added later.
"""
import logging
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import (AUTH_TOKEN, CALLER_HASH_KEY, CLINIC_NUMBER, FIXTURE_MENUS, OPEN_HOURS, PUBLIC_BASE_URL,
                      sign)
from ivr import create_app, guard
from twiml_rules import problems

# Built at import, to list its routes as test cases; the same settings as conftest's `config`.
FOLDER = Path(tempfile.mkdtemp(prefix="ivr-fuzz-"))
APP = create_app({"TESTING": True, "AUDIO_DIR": str(FOLDER / "audio"), "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                  "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CLINIC_PHONE_NUMBER": CLINIC_NUMBER,
                  "CLOCK": lambda: OPEN_HOURS, "DATABASE_URL": f"sqlite:///{FOLDER / 'calls.sqlite3'}",
                  "CALLER_HASH_KEY": CALLER_HASH_KEY, "MENUS_DIR": FIXTURE_MENUS})
WEBHOOKS = sorted((rule for rule in APP.url_map.iter_rules() if "POST" in rule.methods), key=str)
HOST = PUBLIC_BASE_URL.split("://")[1]
TWILIO_FIELDS = ["CallSid", "From", "To", "Caller", "Digits", "SpeechResult", "Confidence", "DialCallStatus",
                 "DialCallDuration", "RecordingUrl", "RecordingDuration", "RecordingSid", "RecordingStatus",
                 "CallStatus", "CallDuration", "ErrorCode", "ErrorUrl"]
QUERY_FIELDS = ["lang", "tries", "at", "after_error"]
# Twilio's status callbacks: no caller is listening, so an empty <Response/> is right.
STATUS_CALLBACKS = {"calllog.call_status", "calllog.voicemail_saved"}
IDS = ["language", "topics", "after_summary", "clinic_unavailable", "procedure", "recovery", "risks",
       "candidates", "clinic", "voicemail", "again", "en", "es", "0", "1", "-1", "3", "99"]

values = st.one_of(
    st.text(alphabet="0123456789*#", max_size=12),
    st.sampled_from(IDS),
    st.text(max_size=60),
    st.integers().map(str),
    st.builds(lambda c, n: c * n, st.sampled_from(["9", "é", "x ", "%", "\x00"]), st.integers(500, 8_000)),
    st.sampled_from(["https://ivr.example.org/ivr/choose/topics?lang=es", "http://", "?lang=es&lang=en"]),
)
# Each of Twilio's fields there or not, with any value, plus fields nobody expects.
form = st.builds(lambda known, extra: {**extra, **known},
                 st.fixed_dictionaries({}, optional={name: values for name in TWILIO_FIELDS}),
                 st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=3))
query = st.dictionaries(st.one_of(st.sampled_from(QUERY_FIELDS), st.text(min_size=1, max_size=8)), values,
                        max_size=4)


class Failures(logging.Handler):
    """Errors the app logged: an apology hides a crash from the caller, not from this test."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.parametrize("rule", WEBHOOKS, ids=lambda rule: rule.rule)
@given(segments=st.fixed_dictionaries({}, optional={"at": values}),
       params=form, args=query, signing=st.sampled_from(["signed"] * 8 + ["unsigned", "wrong token", "GET"]))
def test_any_input_at_any_webhook_gets_twiml_or_a_refusal(rule, segments, params, args, signing):
    client = APP.test_client()
    values = {name: segments.get(name, "topics") for name in rule.arguments}
    path = APP.url_map.bind(HOST).build(rule.endpoint, {**values, **args}, method="POST")
    token = "not-the-token" if signing == "wrong token" else AUTH_TOKEN
    headers = {} if signing == "unsigned" else {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params, token)}
    failures = Failures()
    APP.logger.addHandler(failures)
    try:
        response = client.open(path, method="GET" if signing == "GET" else "POST", data=params, headers=headers)
    finally:
        APP.logger.removeHandler(failures)

    if (response.request.content_length or 0) > guard.MAX_BODY_BYTES:
        assert response.status_code == 413  # refused unread (ivr/guard.py)
        return
    assert response.status_code in (200, 403, 404, 405), response.status_code
    assert b"Traceback" not in response.data
    assert not failures.records, f"{path} {params}: {failures.records[0].getMessage()}"
    if response.status_code == 200:
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
        assert len(root) or rule.endpoint in STATUS_CALLBACKS, "an empty <Response> leaves the caller in silence"
        assert not problems(response.data, APP, HOST)
    if signing in ("unsigned", "wrong token"):
        assert response.status_code in (403, 404)


@pytest.mark.parametrize("path", ["/ivr/menu//0", "/ivr/silence//0", "//voice", "/ivr//choose/topics"])
def test_a_doubled_slash_is_a_clean_404_not_a_redirect(path):
    params = {"CallSid": "CA1"}
    response = APP.test_client().post(path, data=params,
                                      headers={"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params)})
    assert response.status_code == 404
    assert "Location" not in response.headers


@pytest.mark.parametrize("at", ["/0", "//", "a/b"])
def test_an_at_with_a_slash_builds_a_path_that_gets_a_404(at):
    path = APP.url_map.bind(HOST).build("ivr.menu", {"at": at}, method="POST")
    params = {"CallSid": "CA1"}
    response = APP.test_client().post(path, data=params,
                                      headers={"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params)})
    assert response.status_code == 404, path
