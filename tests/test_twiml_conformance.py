"""Every answer on every real call path is TwiML that Twilio accepts, and leads somewhere real.

The crawl starts where Twilio starts (the incoming call, the fallback URL) and follows every
URL a response gives Twilio (Gather and Record actions with every key and some words, Dial's
result, Redirects), so new menus and webhooks are covered without listing them here.
"""
import xml.etree.ElementTree as ET
from collections import deque
from datetime import timedelta
from urllib.parse import urlsplit

import gtts
import pytest

from conftest import (AUTH_TOKEN, CALLER_HASH_KEY, CLINIC_NUMBER, FIXTURE_MENUS, OPEN_HOURS, PUBLIC_BASE_URL,
                      signed_post)
from ivr import create_app
from test_faults import fake_mp3
from twiml_rules import problems

HOST = PUBLIC_BASE_URL.split("://")[1]
KEYS = list("0123456789*#")
WORDS = ["English", "español", "riesgos", "operator", "something else"]
DIAL_RESULTS = [{"DialCallStatus": s} for s in ("completed", "busy", "no-answer", "failed")]
RECORD_RESULTS = [{"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "14"},
                  {"RecordingUrl": "", "RecordingDuration": "0"}]
STARTS = [("/voice", {}),
          ("/fallback", {"ErrorCode": "11200", "ErrorUrl": "https://ivr.example.org/ivr/choose/topics?lang=es"}),
          ("/fallback", {"ErrorCode": "11205", "ErrorUrl": "https://ivr.example.org/voice"})]
CALLBACK_RESULT = {"RecordingSid": "RE1", "RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "14",
                   "RecordingStatus": "completed", "CallStatus": "completed", "CallDuration": "95"}
# Webhooks that no TwiML leads to, because they are set in the Twilio console: name them here.
CONSOLE_ONLY = {"ivr.voice", "calllog.call_status"}
CALLBACK_KEY = "x" * 43 + "="  # a valid Fernet key (32 bytes, url-safe base64)
# The questions menu (after an answer) adds its paths: about 3,050 requests with the shipped scripts.
MAX_REQUESTS = 5000


def next_requests(root: ET.Element) -> list[tuple[str, dict]]:
    """What Twilio may request after acting on this answer."""
    found = []
    for gather in root.iter("Gather"):
        found += [(gather.get("action"), {"Digits": key}) for key in KEYS]
        found += [(gather.get("action"), {"SpeechResult": words, "Confidence": "0.8"}) for words in WORDS]
    for dial in root.iter("Dial"):
        found += [(dial.get("action"), result) for result in DIAL_RESULTS]
    for record in root.iter("Record"):
        found += [(record.get("action"), result) for result in RECORD_RESULTS]
    found += [(redirect.text, {}) for redirect in root.iter("Redirect")]
    found += [(element.get(name), CALLBACK_RESULT) for element in root.iter()
              for name in ("recordingStatusCallback", "statusCallback", "transcribeCallback") if element.get(name)]
    return [(url, params) for url, params in found if url]


# The call's state that every URL carries (ivr/views.py, call_state): what was said once, the key
# pressed last and the empty messages. They change the words or how a call ends, not which TwiML
# verbs are used, and would multiply every path (tests/test_every_key.py walks what they do).
CALL_MEMORY = ("same=", "heard=", "empty=")


def _without_call_memory(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(pair for pair in parts.query.split("&") if not pair.startswith(CALL_MEMORY))
    return parts._replace(query=query).geturl()


def crawl(client, app) -> list[tuple[str, dict, list[str]]]:
    """Every answer reachable from the starts, with its problems."""
    seen, queue, report = set(), deque(STARTS), []
    while queue and len(seen) < MAX_REQUESTS:
        url, params = queue.popleft()
        key = (_without_call_memory(url), tuple(sorted(params.items())))
        if key in seen:
            continue
        seen.add(key)
        response = signed_post(client, url, params)
        if response.status_code != 200:
            report.append((url, params, [f"answered {response.status_code}"]))
            continue
        report.append((url, params, problems(response.data, app, HOST)))
        queue.extend(next_requests(ET.fromstring(response.data)))
    assert not queue, f"the crawl stopped at {MAX_REQUESTS} requests: raise the bound"
    return report


CLOSED = OPEN_HOURS - timedelta(days=1)  # a Sunday
# The clinic open, then closed (the two sets of paths to the clinic), then every prompt recorded.
CASES = {"open": (OPEN_HOURS, False), "closed": (CLOSED, False), "recorded": (OPEN_HOURS, True)}


# Under pytest-xdist (make test), each case's crawl runs in one process, whichever of its tests
# comes first, and the three cases spread over the processes.
EACH_CASE = [pytest.param(case, marks=pytest.mark.xdist_group(f"crawl-{case}")) for case in CASES]


@pytest.fixture(scope="module")
def crawled(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("crawl")
    now, recorded = CASES[request.param]
    app = create_app({"TESTING": True, "AUDIO_DIR": str(folder / "audio"), "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                      "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CLINIC_PHONE_NUMBER": CLINIC_NUMBER,
                      "CLOCK": lambda: now, "CALLER_HASH_KEY": CALLER_HASH_KEY,
                      "DATABASE_URL": f"sqlite:///{folder / 'calls.sqlite3'}", "MENUS_DIR": FIXTURE_MENUS,
                      # Call backs on (key 5 at the clinic's menus; nothing is e-mailed in a test).
                      # Texts stay off: each set of topics texted is a new URL state, too many to crawl.
                      "SMTP_HOST": "127.0.0.1", "VOICEMAIL_EMAIL_FROM": "line@clinic.example",
                      "VOICEMAIL_EMAIL_TO": "desk@clinic.example", "CALLBACK_ENCRYPTION_KEY": CALLBACK_KEY})
    if recorded:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gtts.gTTS, "stream", lambda self: iter([fake_mp3()]))
            assert app.test_cli_runner().invoke(args=["build-audio"]).exit_code == 0
        assert b"<Play>" in signed_post(app.test_client(), "/voice").data
    return app, crawl(app.test_client(), app)


@pytest.mark.parametrize("crawled", EACH_CASE, indirect=True)
def test_every_answer_on_every_call_path_is_twiml_twilio_accepts(crawled):
    app, report = crawled
    assert len(report) > 200, "the crawl should reach every menu, summary and ending"
    bad = [f"POST {url} {params}: {p}" for url, params, found in report for p in found]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("crawled", EACH_CASE, indirect=True)
def test_every_webhook_is_on_some_call_path(crawled):
    app, report = crawled
    adapter = app.url_map.bind(HOST)
    reached = {adapter.match(urlsplit(url).path, "POST")[0] for url, _, _ in report}
    if app.config["CLOCK"]() == CLOSED:
        reached.add("ivr.clinic_done")  # no call reaches the clinic's line when it is closed
    webhooks = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    assert webhooks - CONSOLE_ONLY <= reached, f"no call path leads to {sorted(webhooks - CONSOLE_ONLY - reached)}"


def test_the_checker_catches_what_twilio_rejects(app):
    body = (b'<Response><Gather action="/nowhere" numDigits="one" timout="5"><Say>Hi</Say></Gather>'
            b'<Redirect>/ivr/menu/topics</Redirect><Dial><Number>555-0100</Number></Dial><Sya/></Response>')
    found = problems(body, app, HOST)
    assert any("/nowhere" in p for p in found)
    assert any("numDigits" in p for p in found)
    assert any("timout" in p for p in found)
    assert any("555-0100" in p for p in found)
    assert any("<Sya>" in p for p in found)
    assert not any("/ivr/menu/topics" in p for p in found)
