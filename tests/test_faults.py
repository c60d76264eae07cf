"""Faults after start-up: the caller still gets a polite, working path."""
import shutil
import sqlite3
import threading
from pathlib import Path
from urllib.parse import urlsplit

import gtts

from conftest import FIXTURE_MENUS, PUBLIC_BASE_URL, Call
from ivr import calllog, create_app

MENUS = FIXTURE_MENUS


def walk(call: Call, lang_key: str = "2") -> list:
    """A whole call: greeting, language, a topic, back, the clinic busy, a voicemail."""
    heard = [call.answer(), call.press(lang_key), call.press("3"), call.press("*"), call.press("0")]
    if heard[-1].first("Dial") is not None:
        heard.append(call.follow("Dial", {"DialCallStatus": "busy"}))
    heard.append(call.press("7"))
    heard.append(call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "9"}))
    return heard


def assert_polite(heard: list) -> None:
    for each in heard:
        assert each.said or each.first("Play") is not None, "the caller would hear silence"
        assert "Something went wrong" not in each.text and "Tuvimos un problema" not in each.text
    assert heard[-1].verbs[-1] == "Hangup"


def test_scripts_folder_gone_after_start(config, tmp_path, monkeypatch, caplog):
    from ivr import script_store

    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 0)  # look at the folder on every new call
    menus = tmp_path / "menus"
    shutil.copytree(MENUS, menus)
    config["MENUS_DIR"] = menus
    app = create_app(config)
    menus.chmod(0)  # unreadable (root ignores this, so also remove it)
    menus.rename(tmp_path / "gone")
    try:
        assert_polite(walk(Call(app.test_client())))
        assert_polite(walk(Call(app.test_client()), lang_key="1"))
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        (tmp_path / "gone").chmod(0o755)
    assert "not reloaded, still speaking version" in caplog.text


def test_clinic_number_missing_offers_voicemail_everywhere(config):
    config["CLINIC_PHONE_NUMBER"] = ""
    app = create_app(config)
    heard = walk(Call(app.test_client()))
    assert_polite(heard)
    assert all(each.first("Dial") is None for each in heard)
    call = Call(app.test_client())
    heard = call.post("/fallback", {"ErrorUrl": "https://ivr.example.org/voice"})
    heard = call.wait_silently()
    assert heard.first("Dial") is None and "cannot take your call" in heard.text
    assert heard.gather is not None


def fake_mp3() -> bytes:
    """One second of silent MPEG-1 Layer III (38 frames, 128 kbit/s, 44.1 kHz)."""
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    return frame * 38


def test_audio_deleted_after_build_never_leaves_the_caller_in_silence(config, tmp_path, monkeypatch):
    config["AUDIO_DIR"] = str(tmp_path / "audio")
    app = create_app(config)
    monkeypatch.setattr(gtts.gTTS, "stream", lambda self: iter([fake_mp3()]))
    result = app.test_cli_runner().invoke(args=["build-audio"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert any(heard.first("Play") is not None for heard in walk(Call(client))), "the build plays nothing"
    recordings = list(Path(config["AUDIO_DIR"]).rglob("*.mp3"))
    for mp3 in recordings[::2]:
        mp3.unlink()
    for mp3 in recordings[1::2]:
        mp3.write_bytes(fake_mp3()[:-1])  # damaged: one byte short
    for heard in walk(Call(client)):
        for play in heard.root.iter("Play"):
            url = urlsplit(play.text.strip())
            assert url.netloc == urlsplit(PUBLIC_BASE_URL).netloc, "recordings are served by the app here"
            assert client.get(url.path).status_code == 200, f"{url.path} is gone: the caller hears nothing"


def test_call_log_database_locked_does_not_hold_up_the_call(config, tmp_path, monkeypatch):
    database = tmp_path / "calls.sqlite3"
    url = f"sqlite:///{database}"
    monkeypatch.setenv("DATABASE_URL", url)
    config["DATABASE_URL"] = url
    app = create_app(config)
    call = Call(app.test_client())
    call.answer()
    calllog.flush()  # the log's tables exist now
    assert database.stat().st_size, "the call log wrote nothing"
    # A webhook that touched the locked database would wait for it: record who writes, and
    # where, instead of timing the webhooks (CI's clock is no measure).
    writers, store = [], calllog.CallLog._store

    def store_and_record(self, *rows):
        writers.append(threading.current_thread())
        store(self, *rows)

    monkeypatch.setattr(calllog.CallLog, "_store", store_and_record)
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        heard = walk(call)
    finally:
        lock.close()
    assert_polite(heard)
    assert threading.current_thread() not in writers, "a webhook waited for the locked database"
