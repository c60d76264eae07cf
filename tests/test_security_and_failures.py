"""Signatures, garbage input and failures: the caller always hears something polite."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from twilio.request_validator import HMAC_SHA256, RequestValidator

from conftest import AUTH_TOKEN, CALL_SID, PUBLIC_BASE_URL, Heard, sign, signed_post
from ivr import create_app

WEBHOOKS = ["/voice", "/ivr/menu/topics?lang=en", "/ivr/choose/topics?lang=en&tries=0",
            "/ivr/silence/topics?lang=en&tries=0", "/ivr/clinic?lang=en",
            "/ivr/clinic/done?lang=en", "/ivr/voicemail/done?lang=en"]


@pytest.mark.parametrize("path", WEBHOOKS)
def test_unsigned_request_is_forbidden(client, path):
    assert client.post(path, data={"CallSid": CALL_SID}).status_code == 403


@pytest.mark.parametrize("path", WEBHOOKS)
def test_wrongly_signed_request_is_forbidden(client, path):
    response = signed_post(client, path, {"Digits": "1"}, token="not-the-token")
    assert response.status_code == 403


def test_signature_over_tampered_parameters_is_forbidden(client):
    params = {"CallSid": CALL_SID, "Digits": "1"}
    signature = sign(PUBLIC_BASE_URL + "/ivr/choose/topics?lang=en&tries=0", params)
    response = client.post("/ivr/choose/topics?lang=en&tries=0", data={**params, "Digits": "0"},
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_signature_is_checked_against_the_public_url_behind_a_proxy(client):
    # Signed for the URL the app sees (http://localhost), not the public one Twilio used.
    params = {"CallSid": CALL_SID}
    signature = sign("http://localhost/voice", params)
    assert client.post("/voice", data=params, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_without_public_base_url_the_request_url_is_checked(config):
    config["PUBLIC_BASE_URL"] = ""
    client = create_app(config).test_client()
    params = {"CallSid": CALL_SID}
    signature = sign("http://localhost/voice", params)
    assert client.post("/voice", data=params, headers={"X-Twilio-Signature": signature}).status_code == 200


def test_sha256_shared_key_signatures_are_accepted(client):
    params = {"CallSid": CALL_SID}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + "/voice", params, HMAC_SHA256)
    headers = {"X-Twilio-Signature": signature,
               "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    assert client.post("/voice", data=params, headers=headers).status_code == 200


def test_app_refuses_to_start_without_a_token(config, monkeypatch):
    monkeypatch.delenv("IVR_DEV_INSECURE", raising=False)
    config["TWILIO_AUTH_TOKEN"] = ""
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN"):
        create_app(config)


def test_insecure_dev_mode_warns_loudly_and_skips_signatures(config, caplog):
    config.update(TWILIO_AUTH_TOKEN="", IVR_DEV_INSECURE=True)
    client = create_app(config).test_client()
    assert "NOT checked" in caplog.text
    assert client.post("/voice").status_code == 200


@pytest.mark.parametrize("path,params", [
    ("/ivr/choose/topics?lang=en&tries=0", {"Digits": "abc"}),
    ("/ivr/choose/topics?lang=en&tries=0", {"Digits": "12345"}),
    ("/ivr/choose/topics?lang=en&tries=0", {"SpeechResult": "x" * 10_000}),
    ("/ivr/choose/topics?lang=en&tries=zz", {"Digits": "7"}),
    ("/ivr/choose/topics?lang=en&tries=-5", {"Digits": "7"}),
    ("/ivr/choose/topics?lang=en&tries=99999999999999999999", {"Digits": "7"}),
    ("/ivr/choose/nowhere?lang=en&tries=0", {"Digits": "7"}),
    ("/ivr/choose/after_summary?lang=en&tries=0", {"Digits": "1"}),
    ("/ivr/choose/topics?lang=fr&tries=0", {"Digits": "1"}),
    ("/ivr/choose/topics?lang=&tries=0", {"Digits": "\x00"}),
    ("/ivr/menu/nowhere?lang=xx", {}),
    ("/ivr/menu/language?lang=es", {}),
    ("/ivr/silence/topics?lang=es&tries=1e9", {}),
    ("/ivr/clinic/done?lang=klingon", {"DialCallStatus": "<script>"}),
    ("/ivr/voicemail/done?lang=es", {"RecordingDuration": "lots", "RecordingUrl": "x"}),
])
def test_garbage_parameters_get_a_menu_not_a_crash(client, path, params):
    response = signed_post(client, path, params)
    assert response.status_code == 200
    heard = Heard.parse(response.data)
    assert heard.said, "the caller must hear something"
    assert heard.verbs[-1] in ("Redirect", "Hangup", "Dial")


def test_missing_call_sid_is_fine(client):
    response = client.post("/voice", headers={"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/voice", {})})
    assert response.status_code == 200


def test_unknown_language_returns_to_the_language_choice(call):
    heard = call.post("/ivr/choose/topics?lang=fr&tries=0", {"Digits": "2"})
    assert "Para español, oprima 2." in heard.text


@pytest.mark.parametrize("lang,apology", [("en", "We are sorry. Something went wrong on our side."),
                                          ("es", "Lo sentimos. Hubo un problema en nuestro sistema.")])
def test_unexpected_error_apologises_in_callers_language_and_offers_the_clinic(call, monkeypatch, lang, apology):
    from ivr import flow

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(flow, "choose", broken)
    heard = call.post(f"/ivr/choose/topics?lang={lang}&tries=0", {"Digits": "2"})
    assert heard.text == apology
    assert heard.verbs[-1] == "Redirect"
    heard = call.wait_silently()
    assert heard.first("Dial") is not None


def test_error_on_the_way_to_the_clinic_ends_politely_instead_of_looping(call, monkeypatch):
    from ivr import views

    monkeypatch.setattr(views, "transfer", lambda *a: 1 / 0)
    heard = call.post("/ivr/clinic?lang=es&after_error=1")
    assert "Lo sentimos" in heard.text
    assert heard.verbs[-1] == "Hangup"


def test_error_before_scripts_render_still_speaks(call, monkeypatch):
    from ivr import views

    monkeypatch.setattr(views, "script", lambda: 1 / 0)
    heard = call.post("/ivr/menu/topics?lang=es")
    assert heard.languages == {"es-MX"}
    assert heard.said


def test_responses_are_well_formed_twiml(client):
    response = signed_post(client, "/voice")
    assert ET.fromstring(response.data).tag == "Response"
    assert response.headers["Content-Type"].startswith("text/xml")


def test_error_before_a_language_is_chosen_apologises_in_both(call, monkeypatch):
    from ivr import flow

    monkeypatch.setattr(flow, "choose", lambda *a: 1 / 0)
    heard = call.post("/ivr/choose/language?tries=0", {"Digits": "1"})
    assert heard.languages == {"en-US", "es-MX"}
    assert "We are sorry." in heard.text and "Lo sentimos." in heard.text


def test_first_failure_on_the_way_to_the_clinic_goes_back_to_the_topics(call, monkeypatch):
    from ivr import views

    monkeypatch.setattr(views, "transfer", lambda *a: 1 / 0)
    heard = call.post("/ivr/clinic?lang=es")
    assert heard.text == "Lo sentimos. Hubo un problema en nuestro sistema."
    assert call.wait_silently().text.startswith("El procedimiento, oprima 1.")


@pytest.mark.parametrize("setting,message", [
    ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set"),
    ({"TWILIO_AUTH_TOKEN": "t", "CALLER_HASH_KEY": "short"}, "CALLER_HASH_KEY is 5 characters"),
])
def test_a_server_without_a_needed_setting_says_what_to_set_without_a_traceback(tmp_path, setting, message):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TWILIO_AUTH_TOKEN", "IVR_DEV_INSECURE", "CALLER_HASH_KEY")}
    environment.update(setting, DATABASE_URL=f"sqlite:///{tmp_path / 'calls.sqlite3'}")
    # gunicorn imports app.py the same way: python -c stands in for it, without a server to stop.
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=Path(__file__).parent.parent,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("The line does not start:")
