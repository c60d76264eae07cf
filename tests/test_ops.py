"""Running in production: health check, Twilio's fallback URL, one private log line per webhook."""
import json
import logging
import os
import re
import runpy
import shutil
from pathlib import Path

import pytest

from conftest import CALL_SID, CALLER, CLINIC_NUMBER, FIXTURE_MENUS, signed_post
from ivr.ops import webhook_log


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines():
    handler = Lines()
    webhook_log.addHandler(handler)
    yield handler.lines
    webhook_log.removeHandler(handler)


def test_health_check_is_unsigned_and_says_the_scripts_are_loaded(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "prompts": response.json["prompts"], "languages": ["en", "es"],
                             "script_version": response.json["script_version"], "scripts": "ok"}
    assert response.json["prompts"] > 10


def test_health_check_names_the_script_version_new_calls_hear(config, tmp_path, monkeypatch, caplog):
    from ivr import create_app, script_store

    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 0)
    menus = tmp_path / "menus"
    shutil.copytree(FIXTURE_MENUS, menus)
    config["MENUS_DIR"] = menus
    client = create_app(config).test_client()
    before = client.get("/healthz").json["script_version"]
    summaries = menus / "summaries.yaml"
    summaries.write_text(summaries.read_text(encoding="utf-8").replace("Here is what", "This is what"),
                         encoding="utf-8")
    after = client.get("/healthz").json["script_version"]
    assert re.fullmatch("[0-9a-f]{8}", before) and after != before
    # The reload's INFO line reaches the log as it is set up, naming the same version.
    assert f"reloaded: now version {after}" in caplog.text


def test_the_lines_info_messages_are_logged(app):
    assert app.logger.isEnabledFor(logging.INFO)
    assert logging.getLogger("ivr.calllog").isEnabledFor(logging.INFO)


def test_health_check_reveals_no_configuration(app, client):
    body = client.get("/healthz").get_data(as_text=True)
    for key in ("TWILIO_AUTH_TOKEN", "CLINIC_PHONE_NUMBER", "PUBLIC_BASE_URL"):
        assert str(app.config[key]) not in body


def test_health_check_fails_when_the_scripts_cannot_be_read(client, monkeypatch):
    from ivr import views

    monkeypatch.setattr(views, "script", lambda: 1 / 0)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "scripts unreadable"}


def test_one_json_line_per_webhook_with_call_step_language_status_and_latency(call, log_lines):
    call.answer()
    call.press("2")
    call.press("3")
    call.press("*")
    entries = [json.loads(line) for line in log_lines]
    assert [(e["endpoint"], e["at"], e["lang"]) for e in entries] == [
        ("ivr.voice", None, None), ("ivr.choose", "language", None),
        ("ivr.choose", "topics", "es"), ("ivr.choose", "risks", "es")]
    assert all(e["call"] == CALL_SID and e["status"] == 200 and e["ms"] >= 0 for e in entries)


def test_rejected_requests_are_logged_too(client, log_lines):
    assert client.post("/voice", data={"CallSid": CALL_SID}).status_code == 403
    assert json.loads(log_lines[0])["status"] == 403


def test_the_callers_number_never_reaches_any_log(call, caplog, log_lines, monkeypatch):
    caplog.set_level(logging.DEBUG)
    numbers = {"From": CALLER, "Caller": CALLER, "To": CLINIC_NUMBER, "Called": CLINIC_NUMBER}
    post = call.post
    monkeypatch.setattr(call, "post", lambda path, params=None: post(path, {**numbers, **(params or {})}))
    call.answer()
    call.press("1")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "busy"})
    call.press("7")
    call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "9"})
    from ivr import flow

    monkeypatch.setattr(flow, "choose", lambda *a: 1 / 0)  # an error is logged with its traceback
    signed_post(call.client, "/ivr/choose/topics?lang=en&tries=0", {**numbers, "Digits": "2"})
    logged = caplog.text + "\n".join(log_lines)
    assert 'webhook "/ivr/choose/topics" failed' in logged
    for number in (CALLER, CLINIC_NUMBER):
        for form in (number, number.lstrip("+"), number[2:], number.replace("+", "%2B")):
            assert form not in logged


@pytest.mark.parametrize("error_url,lang,apology", [
    ("https://ivr.example.org/ivr/choose/topics?lang=es&tries=0", "es", "Lo sentimos"),
    ("https://ivr.example.org/ivr/choose/recovery?lang=en&tries=1", "en", "We are sorry"),
])
def test_fallback_apologises_in_the_callers_language_and_goes_to_the_clinic(call, error_url, lang, apology):
    heard = call.post("/fallback", {"ErrorCode": "11200", "ErrorUrl": error_url})
    assert heard.text.startswith(apology)
    assert heard.languages == {"es-MX" if lang == "es" else "en-US"}
    heard = call.wait_silently()
    dial = heard.first("Dial")
    assert dial is not None and dial.text.strip() == CLINIC_NUMBER


def test_fallback_without_a_known_language_apologises_in_both(call):
    heard = call.post("/fallback", {"ErrorCode": "11205", "ErrorUrl": "https://ivr.example.org/voice"})
    assert heard.languages == {"en-US", "es-MX"}
    assert call.wait_silently().first("Dial") is not None


def test_fallback_is_signed_like_every_webhook(client):
    assert client.post("/fallback", data={"CallSid": CALL_SID}).status_code == 403


def test_fallback_that_fails_itself_still_speaks_and_ends_the_call(call, monkeypatch):
    from ivr import views

    monkeypatch.setattr(views, "apology", lambda *a: 1 / 0)
    heard = call.post("/fallback", {"ErrorUrl": "https://ivr.example.org/voice"})
    assert heard.languages == {"en-US", "es-MX"}
    assert heard.verbs[-1] == "Hangup"


def test_a_failure_on_the_clinic_path_after_the_fallback_hangs_up_instead_of_looping(call, monkeypatch):
    from ivr import views

    call.post("/fallback", {"ErrorUrl": "https://ivr.example.org/voice"})
    monkeypatch.setattr(views, "transfer", lambda *a: 1 / 0)
    heard = call.wait_silently()
    assert "We are sorry" in heard.text
    assert heard.verbs[-1] == "Hangup"


def test_health_check_and_audio_are_not_logged_as_webhooks(client, log_lines):
    client.get("/healthz")
    assert log_lines == []


def gunicorn_workers() -> int:
    return runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))["workers"]


def test_gunicorn_counts_the_cpus_this_process_may_use_not_the_hosts(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # a big host; the container gets one CPU
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert gunicorn_workers() == 3


def test_gunicorn_workers_from_web_concurrency(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert gunicorn_workers() == 4


def test_each_webhook_writes_one_json_line_to_stderr(call, capsys):
    call.answer()
    call.press("1")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(line["endpoint"], line["lang"], line["status"]) for line in lines] == [
        ("ivr.voice", None, 200), ("ivr.choose", None, 200)]
