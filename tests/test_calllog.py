"""The call log: what each call leaves behind, voicemails, the clinic's report, and a
database that fails without the caller noticing.

Runs on SQLite; `make test-postgres` runs it again on a real PostgreSQL (TEST_DATABASE_URL).
"""
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
from sqlalchemy import create_engine, inspect

from conftest import CALLER, CHICAGO, FIXTURE_MENUS, OPEN_HOURS, PUBLIC_BASE_URL, Call, Heard, sign, signed_post
from ivr import calllog, create_app

CALLER_DIGITS = CALLER.lstrip("+")
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


@pytest.fixture
def config(config, database_url):
    config["DATABASE_URL"] = database_url
    return config


def log_rows(app):
    return app.extensions["ivr.calllog"].rows()


def events(app):
    return [(row.event, row.detail) for row in log_rows(app)]


class LoggedCall(Call):
    """A caller with their own call SID and number, at a time the test chooses."""

    def __init__(self, client, sid, number=CALLER):
        super().__init__(client)
        self.sid, self.number = sid, number

    def post(self, path, params=None):
        return super().post(path, {"CallSid": self.sid, "From": self.number, **(params or {})})

    def callback(self, path, params):
        response = signed_post(self.client, path, {"CallSid": self.sid, "From": self.number, **params})
        assert response.status_code == 200
        return response

    def ends(self, seconds, status="completed"):
        self.callback("/ivr/call/status", {"CallStatus": status, "CallDuration": str(seconds)})


def at(app, text):
    app.config["CLOCK"] = lambda: datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


# -- what a call leaves in the log ----------------------------------------------------


def test_the_log_uses_the_database_under_test(app, call):
    call.answer()
    dialect = app.extensions["ivr.calllog"].engine().dialect.name
    assert dialect == ("postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite")


def test_each_step_of_a_call_is_one_row(app, call):
    call.answer()
    call.press("2")
    call.press("3")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "completed", "DialCallDuration": "95"})
    rows = log_rows(app)
    assert [(r.event, r.detail, r.lang) for r in rows] == [
        ("greeting", "language", None),
        ("menu", "topics", "es"),
        ("summary", "risks", "es"),
        ("transfer", None, "es"),
        ("dial", "completed", "es"),
    ]
    assert rows[-1].seconds == 95
    assert {r.call_sid for r in rows} == {"CA" + "0" * 32}
    assert rows[0].time_utc == OPEN_HOURS.astimezone(UTC).replace(tzinfo=None)


def test_repeats_goodbyes_and_errors_are_logged(app, call, monkeypatch):
    call.answer()
    call.press("1")
    call.press("#")
    call.wait_silently()
    call.wait_silently()
    # While the clinic is open, three tries without a choice are put through to it.
    assert events(app)[-3:] == [("invalid_choice", "topics"), ("no_input", "topics"), ("transfer", None)]
    app.config["CLOCK"] = lambda: datetime(2026, 11, 28, 20, 0, tzinfo=CHICAGO)  # closed
    call.post("/voice", {"From": "+12145550002"})  # another caller: the language menu
    call.press("1")
    call.press("#")
    call.wait_silently()
    call.wait_silently()
    # Closed: one last offer to leave a message, with when the clinic opens, then goodbye.
    assert events(app)[-1] == ("menu", "clinic_closed")
    call.wait_silently()
    assert events(app)[-1] == ("goodbye", None)
    from ivr import flow

    monkeypatch.setattr(flow, "choose", lambda *a: 1 / 0)
    call.post("/ivr/choose/topics?lang=en&tries=0", {"Digits": "1"})
    assert events(app)[-1] == ("error", None)


def test_caller_number_is_kept_only_as_a_keyed_hash(app, call, config, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    call.answer()
    call.press("1")
    rows = log_rows(app)
    expected = hmac.new(config["CALLER_HASH_KEY"].encode(), CALLER.encode(), hashlib.sha256).hexdigest()
    assert rows[0].caller_hash == expected
    for row in rows:
        assert CALLER_DIGITS not in " ".join(str(value) for value in row)
    if config["DATABASE_URL"].startswith("sqlite"):
        stored = b"".join(path.read_bytes() for path in [*tmp_path.glob("calls.sqlite3*"), *tmp_path.glob("*/*.spool")]
                          if path.is_file())
        assert stored and CALLER_DIGITS.encode() not in stored
    assert CALLER_DIGITS not in caplog.text


def test_without_a_hash_key_no_trace_of_the_number_and_a_warning(config, caplog):
    config["CALLER_HASH_KEY"] = ""
    app = create_app(config)
    assert "CALLER_HASH_KEY is not set" in caplog.text
    Call(app.test_client()).answer()
    assert [row.caller_hash for row in log_rows(app)] == [None]


@pytest.mark.parametrize("key", ["short-key", "k" * 31])
def test_a_short_hash_key_is_refused_at_start_up(config, key):
    config["CALLER_HASH_KEY"] = key
    with pytest.raises(RuntimeError) as refused:
        create_app(config)
    message = str(refused.value)
    assert "\n" not in message and "at least 32" in message
    assert 'python3 -c "import secrets; print(secrets.token_hex(32))"' in message
    assert key not in message


def test_call_status_callback_records_the_length_of_the_call(app, client):
    caller = LoggedCall(client, "CA1")
    caller.answer()
    caller.ends(187)
    row = log_rows(app)[-1]
    assert (row.event, row.detail, row.seconds, row.call_sid) == ("status", "completed", 187, "CA1")


def test_odd_values_from_twilio_are_stored_without_failing(app, call, caplog):
    call.post("/ivr/clinic/done?lang=es", {"DialCallStatus": "\x00busy" + "x" * 500, "DialCallDuration": "9" * 30})
    call.post("/ivr/call/status", {"CallSid": "CA" + "\x00" * 100, "CallStatus": "completed", "CallDuration": "-5"})
    dial, status = log_rows(app)
    assert dial.detail == "busy" + "x" * 60 and dial.seconds is None
    assert status.call_sid == "CA" and status.seconds is None
    assert "call log: cannot write" not in caplog.text


# -- voicemail -------------------------------------------------------------------------------


def leave_voicemail(app, call, lang):
    at(app, "2026-11-07 11:00")  # Saturday
    call.answer()
    call.press({"en": "1", "es": "2"}[lang])
    call.press("0")
    return call.press("7")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_voicemail_is_stored_from_the_recording_callback(app, call, lang):
    heard = leave_voicemail(app, call, lang)
    callback = heard.first("Record").get("recordingStatusCallback")
    with responses.RequestsMock() as network:  # no audio is downloaded
        response = signed_post(call.client, callback, {
            "RecordingSid": "RE1", "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
            "RecordingDuration": "42", "RecordingChannels": "1", "RecordingSource": "RecordVerb",
        })
        assert not network.calls
    assert response.status_code == 200 and Heard.parse(response.data).verbs == []
    [message] = app.extensions["ivr.calllog"].messages()
    assert (message.recording_sid, message.seconds, message.recording_url, message.lang, message.sent_utc) == \
        ("RE1", 42, RECORDING_URL, lang, None)
    # The caller's side: Record's action thanks them in their language.
    thanks = call.follow("Record", {"RecordingUrl": RECORDING_URL, "RecordingDuration": "42", "Digits": "#"})
    assert thanks.text.startswith("Thank you." if lang == "en" else "Gracias.")


@pytest.mark.parametrize("params", [
    {"RecordingStatus": "completed", "RecordingDuration": "0", "RecordingUrl": RECORDING_URL},
    {"RecordingStatus": "absent", "RecordingDuration": "0", "RecordingUrl": RECORDING_URL},
    {"RecordingStatus": "completed", "RecordingDuration": "12", "RecordingUrl": ""},
    {"RecordingStatus": "failed", "RecordingDuration": "lots"},
])
def test_empty_recording_is_not_a_message(app, call, params):
    heard = leave_voicemail(app, call, "en")
    response = signed_post(call.client, heard.first("Record").get("recordingStatusCallback"),
                           {"RecordingSid": "RE2", **params})
    assert response.status_code == 200
    assert app.extensions["ivr.calllog"].messages() == []


@pytest.mark.parametrize("path", ["/ivr/voicemail/saved?lang=en", "/ivr/call/status"])
def test_callbacks_must_be_signed(app, client, path):
    params = {"CallSid": "CA1", "RecordingStatus": "completed", "RecordingDuration": "5",
              "RecordingUrl": RECORDING_URL, "CallStatus": "completed"}
    assert client.post(path, data=params).status_code == 403
    assert client.post(path, data=params, headers={"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, {})}).status_code == 403
    assert log_rows(app) == []


def test_a_failing_callback_still_answers(client, monkeypatch):
    monkeypatch.setattr(calllog, "_row", lambda **kw: 1 / 0)
    response = signed_post(client, "/ivr/call/status", {"CallStatus": "completed"})
    assert response.status_code == 200 and Heard.parse(response.data).verbs == []


# -- the report ---------------------------------------------------------------------------------


@pytest.fixture
def seeded(app, client):
    """Five calls over two days, driven through the webhooks as Twilio would."""
    at(app, "2026-11-02 10:00")  # Monday, open
    a = LoggedCall(client, "CA-a", "+12145550001")
    a.answer(), a.press("1"), a.press("2")            # recovery, then hangs up during it
    a.ends(95)
    b = LoggedCall(client, "CA-b", "+12145550002")
    b.answer(), b.press("2"), b.press("3"), b.press("0")   # risks, then the clinic answers
    b.follow("Dial", {"DialCallStatus": "completed", "DialCallDuration": "240"})
    b.ends(300)
    c = LoggedCall(client, "CA-c", "+12145550003")
    c.answer(), c.press("2"), c.press("1"), c.press("*"), c.press("3"), c.press("0")
    c.follow("Dial", {"DialCallStatus": "busy"})       # missed: leaves a voicemail
    c.press("7")
    c.callback(c.heard.first("Record").get("recordingStatusCallback"), {
        "RecordingSid": "RE-c", "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
        "RecordingDuration": "42"})
    c.follow("Record", {"RecordingUrl": RECORDING_URL, "RecordingDuration": "42"})
    c.ends(150)
    at(app, "2026-11-03 19:00")  # Tuesday evening, closed
    d = LoggedCall(client, "CA-d", "+12145550001")     # caller a again: greeted in English at once
    d.answer(), d.press("2"), d.press("8"), d.press("0"), d.press("7")  # recovery, again more slowly
    d.callback(d.heard.first("Record").get("recordingStatusCallback"), {
        "RecordingSid": "RE-d", "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
        "RecordingDuration": "0"})
    d.ends(65)
    e = LoggedCall(client, "CA-e", "+12145550005")
    e.answer()                                          # hangs up at the language menu
    e.ends(10)
    return app


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_report_numbers(seeded):
    report = json.loads(run(seeded, "report", "--format", "json"))
    assert report["calls"] == 5
    assert report["days"] == [{"day": "2026-11-02", "calls": 3, "en": 1, "es": 2, "none": 0},
                              {"day": "2026-11-03", "calls": 2, "en": 1, "es": 0, "none": 1}]
    assert report["languages"] == {"en": 2, "es": 2, "none": 1}
    assert report["topics"] == [
        {"topic": "recovery", "calls": 2, "plays": 3, "hung_up_during_summary": 1},
        {"topic": "risks", "calls": 2, "plays": 2, "hung_up_during_summary": 0},
        {"topic": "procedure", "calls": 1, "plays": 1, "hung_up_during_summary": 0},
        {"topic": "candidates", "calls": 0, "plays": 0, "hung_up_during_summary": 0},
    ]
    assert report["transfers"] == {"answered": 1, "missed": 1, "after_hours": 1}
    assert report["callers"] == 4 and report["repeat_calls"] == 1
    assert report["average_call_seconds"] == round((95 + 300 + 150 + 65 + 10) / 5)
    assert report["voicemails"] == [{"time": "2026-11-02 10:00", "lang": "es", "seconds": 42,
                                     "recording_sid": "RE-c", "url": RECORDING_URL, "emailed_at": None}]
    assert report["steps_not_logged"] == 0
    assert report["calls_with_errors"] == 0


def test_report_since_a_day(seeded):
    report = json.loads(run(seeded, "report", "--since", "2026-11-03", "--format", "json"))
    assert report["since"] == "2026-11-03"
    assert report["calls"] == 2
    assert report["voicemails"] == []


def test_report_as_text_for_staff(seeded):
    text = run(seeded, "report")
    assert "Kyphoplasty line: all calls in the log (days and times in America/Chicago)" in text
    lines = text.splitlines()
    assert lines[2].split() == ["Calls", "per", "day", "calls", "English", "Spanish", "no", "choice"]
    assert lines[3].split() == ["2026-11-02", "3", "1", "2", "0"]
    assert lines[5].split() == ["Total", "5", "2", "2", "1"]
    assert "Different callers: 4. Calls from someone who had called before: 1. Average call: 2 min 4 s." in text
    assert [line.split() for line in lines if line.startswith("recovery")] == [["recovery", "2", "3", "1"]]
    assert "Transfers to the clinic: 1 answered, 1 missed. Asked for the clinic after hours: 1." in text
    assert "Voicemails: 1" in text
    assert f"2026-11-02 10:00  Spanish        42 s  {RECORDING_URL}  waiting" in text
    assert "not logged" not in text


def test_report_as_csv_for_a_spreadsheet(seeded):
    rows = list(csv.reader(io.StringIO(run(seeded, "report", "--format", "csv"))))
    assert rows[0] == ["section", "item", "value"]
    assert ["calls per day", "2026-11-02", "3"] in rows
    assert ["calls per day (Spanish)", "2026-11-02", "2"] in rows
    assert ["hung up during summary", "recovery", "1"] in rows
    assert ["clinic transfers", "after hours", "1"] in rows
    assert ["voicemails", "total", "1"] in rows
    assert ["voicemails", "waiting to be e-mailed", "1"] in rows
    assert ["voicemail", "2026-11-02 10:00 Spanish 42 s", RECORDING_URL, "waiting"] in rows


def test_report_on_an_empty_log(app):
    assert "Voicemails: 0" in run(app, "report")


def test_report_rejects_a_bad_date(app):
    result = app.test_cli_runner().invoke(args=["report", "--since", "November"])
    assert result.exit_code == 2 and 'like 2026-11-01, not "November"' in result.output


def test_purge_deletes_old_rows_only(seeded):
    at(seeded, "2027-02-01 09:00")  # 90 days after 2026-11-03 19:00 is 2027-02-01 19:00
    result = seeded.test_cli_runner().invoke(args=["purge", "--older-than", "90d"], input="y\n")
    assert result.exit_code == 0, result.output
    asked = re.search(r"Delete (\d+) call log rows from before 2026-11-03 09:00 \(90 days ago\)\? \[y/N\]: y",
                      result.output)
    assert asked and int(asked.group(1)) > 0, result.output
    assert f"Deleted {asked.group(1)} call log rows" in result.output and "Twilio" in result.output
    assert {row.call_sid for row in log_rows(seeded)} == {"CA-d", "CA-e"}
    at(seeded, "2027-02-02 09:00")
    run(seeded, "purge", "--older-than", "90", "--yes")
    assert log_rows(seeded) == []


def test_purge_asks_first_and_keeps_everything_on_no(seeded):
    at(seeded, "2027-02-01 09:00")
    before = log_rows(seeded)
    for answer in ("n\n", ""):  # "no", or nobody to answer (a script without --yes)
        result = seeded.test_cli_runner().invoke(args=["purge", "--older-than", "90d"], input=answer)
        assert result.exit_code == 1 and "Aborted" in result.output
    assert log_rows(seeded) == before


def test_purge_of_everything_needs_yes(seeded):
    at(seeded, "2027-02-01 09:00")
    before = log_rows(seeded)
    result = seeded.test_cli_runner().invoke(args=["purge", "--older-than", "0d"], input="y\n")
    assert result.exit_code == 2 and '"0d" deletes the whole call log; add --yes' in result.output
    assert log_rows(seeded) == before
    run(seeded, "purge", "--older-than", "0d", "--yes")
    assert log_rows(seeded) == []


def test_purge_needs_a_number_of_days(app):
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "three months"])
    assert result.exit_code == 2 and 'write a number of days, like "90d"' in result.output


# -- writing in the background -----------------------------------------------------------------


def stored_events(config):
    """What the database holds, read past the process's queue (rows() would write it first)."""
    engine = create_engine(calllog.with_driver(config["DATABASE_URL"]))
    try:
        if not inspect(engine).has_table("call_steps"):
            return []
        with engine.connect() as connection:
            return [row.event for row in connection.execute(calllog.call_steps.select().order_by("id"))]
    finally:
        engine.dispose()


def test_the_writer_thread_stores_steps_without_being_asked(app, call, config, monkeypatch):
    # Wait for the writer's own flushes, not for a number of seconds: CI may be slow.
    flushed, flush = threading.Condition(), calllog.CallLog.flush

    def flush_and_tell(self, *timeout):
        written = flush(self, *timeout)
        with flushed:
            flushed.notify_all()
        return written

    monkeypatch.setattr(calllog.CallLog, "flush", flush_and_tell)
    call.answer()
    call.press("1")
    with flushed:
        assert flushed.wait_for(lambda: stored_events(config) == ["greeting", "menu"], timeout=120)


def test_queued_steps_are_written_when_the_process_exits(config, tmp_path):
    # A process that answers a call and exits at once, long before its writer would write.
    del config["CLOCK"]  # a function cannot be written into the program: it sets its own
    program = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import OPEN_HOURS, Call
from ivr import calllog, create_app
calllog.FLUSH_SECONDS = 3600
config = {{**{config!r}, "CLOCK": lambda: OPEN_HOURS}}
call = Call(create_app(config).test_client())
call.answer()
call.press("1")
sys.exit(0)
"""
    subprocess.run([sys.executable, "-c", program], check=True, cwd=Path(__file__).parent.parent,
                   capture_output=True, timeout=60)
    assert stored_events(config) == ["greeting", "menu"]


# -- a database that fails: the caller never notices -----------------------------------------------


def whole_call(app):
    call = Call(app.test_client())
    assert "For English, press 1" in call.answer().text
    call.press("1")
    assert call.press("2").text.startswith("Here is what to expect after kyphoplasty.")
    assert call.press("0").first("Dial") is not None
    assert call.follow("Dial", {"DialCallStatus": "completed"}).verbs == ["Hangup"]
    response = signed_post(app.test_client(), "/ivr/call/status", {"CallStatus": "completed", "CallDuration": "9"})
    assert response.status_code == 200


def sqlite_with_one_row(path):
    app = create_app({"TESTING": True, "TWILIO_AUTH_TOKEN": "t", "DATABASE_URL": f"sqlite:///{path}",
                      "MENUS_DIR": FIXTURE_MENUS})
    log = app.extensions["ivr.calllog"]
    log.write({"call_sid": "CA-old", "time_utc": datetime(2026, 1, 1), "event": "menu"})
    assert log.flush()
    return path


@pytest.mark.parametrize("broken", [
    "read-only file",
    "read-only mode",
    "folder is a file",
    "not a database",
    "locked",
    "postgres unreachable",
])
def test_call_goes_on_when_the_database_fails(config, tmp_path, caplog, broken):
    path = tmp_path / "calls.sqlite3"
    url = f"sqlite:///{path}"
    if broken == "read-only file":  # (root can still write: then this only shows nothing breaks)
        sqlite_with_one_row(path)
        path.chmod(0o444)
        tmp_path.chmod(0o555)
    elif broken == "read-only mode":
        sqlite_with_one_row(path)
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    elif broken == "folder is a file":
        (tmp_path / "instance").write_text("not a folder")
        url = f"sqlite:///{tmp_path / 'instance' / 'calls.sqlite3'}"
    elif broken == "not a database":
        path.write_bytes(b"this is not a database " * 100)
    elif broken == "locked":
        sqlite_with_one_row(path)
        blocker = create_engine(url).raw_connection()
        blocker.execute("BEGIN EXCLUSIVE")
    elif broken == "postgres unreachable":
        url = "postgresql://nobody@127.0.0.1:9/nowhere"
    config["DATABASE_URL"] = url
    try:
        app = create_app(config)
        whole_call(app)
        calllog.flush()  # while the database is still broken
    finally:
        tmp_path.chmod(0o755)
        if broken == "locked":
            blocker.close()
    if broken != "read-only file" or os.geteuid() != 0:
        assert "call log: cannot write" in caplog.text
        # One line per outage, not one per step.
        assert caplog.text.count("call log: cannot write") == 1
    assert CALLER_DIGITS not in caplog.text


def test_missing_database_and_folder_are_created_on_first_use(config, tmp_path):
    folder = tmp_path / "instance" / "nested"
    config["DATABASE_URL"] = f"sqlite:///{folder / 'calls.sqlite3'}"
    app = create_app(config)
    whole_call(app)
    assert len(log_rows(app)) == 6
    mode = create_engine(config["DATABASE_URL"]).connect().exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_default_database_is_in_the_instance_folder(config):
    config["DATABASE_URL"] = ""
    app = create_app(config)
    assert calllog.database_url(app) == f"sqlite:///{app.instance_path}/calls.sqlite3"


@pytest.mark.parametrize("given,used", [
    ("postgres://u:p@db.example/calls", "postgresql+psycopg://u:p@db.example/calls"),
    ("postgresql://u:p@db.example/calls", "postgresql+psycopg://u:p@db.example/calls"),
    ("postgresql+psycopg://u@db/calls", "postgresql+psycopg://u@db/calls"),
])
def test_postgres_addresses_use_psycopg(config, given, used):
    config["DATABASE_URL"] = given
    assert calllog.database_url(create_app(config)) == used


def test_a_failing_log_hook_does_not_fail_the_call(client, monkeypatch, caplog):
    monkeypatch.setattr(calllog, "_step_row", lambda: 1 / 0)
    heard = Call(client).answer()
    assert "For English, press 1" in heard.text
    assert 'call log: cannot describe "/voice"' in caplog.text


def test_writes_resume_when_the_database_is_there(config, tmp_path):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'blocked' / 'calls.sqlite3'}"
    app = create_app(config)
    log = app.extensions["ivr.calllog"]
    Call(app.test_client()).answer()
    assert not log.flush()
    (tmp_path / "blocked").unlink()
    Call(app.test_client()).answer()
    assert log.flush()
    assert [row.event for row in log.rows()] == ["greeting", "greeting"]
