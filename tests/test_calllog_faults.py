"""The call log loses nothing while its database is locked, read-only or down (issue 13's attack):
rows wait in memory and are written when it is back; beyond the bound they are counted.

Deterministic: the writer is driven by explicit flushes (calllog.flush), never by waiting.
Runs on SQLite; `make test-postgres` runs it again on a real PostgreSQL.
"""
import contextlib
import json
import signal
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.pool import Pool

from conftest import Call, signed_post
from ivr import calllog, create_app, schema

RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE7"
FAULTS = ["locked", "read-only", "down"]


@pytest.fixture
def config(config, database_url):
    config["DATABASE_URL"] = database_url
    # Only the call log's writes here: the language memory's read at /voice (cached, and skipped
    # for a while after a failure) is tested in test_language_first.py.
    config["CALLER_HASH_KEY"] = ""
    return config


@pytest.fixture
def log(app):
    return app.extensions["ivr.calllog"]


@contextlib.contextmanager
def database_fault(fault: str, log: calllog.CallLog):
    """Break the log's database as the attack did; mend it on leaving."""
    postgres = log.engine().dialect.name == "postgresql"
    if fault == "locked":
        # Another program holds the lock: writes wait for it, then fail.
        blocker = create_engine(calllog.with_driver(log.url)).connect()
        if postgres:
            blocker.exec_driver_sql("LOCK TABLE call_steps IN ACCESS EXCLUSIVE MODE")
        else:
            blocker.exec_driver_sql("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.rollback()
            blocker.close()
            blocker.engine.dispose()
        return

    def break_connection(dbapi_connection, _record):
        if fault == "down":
            raise ConnectionRefusedError("the database server is down")
        # Read-only: a connection opened now stays read-only, as a SQLite file opened while it
        # was read-only does, until it is closed.
        if postgres:
            dbapi_connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()
        else:
            dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(Pool, "connect", break_connection)
    log.engine().dispose()  # the connections of before the fault are gone (a restart, a remount)
    try:
        yield
    finally:
        event.remove(Pool, "connect", break_connection)


def calls(app, count: int, voicemail: bool = False) -> int:
    """``count`` callers who each choose English and a topic (3 steps), and one voicemail."""
    client = app.test_client()
    for i in range(count):
        call = Call(client)
        call.post("/voice", {"CallSid": f"CA{i}"})
        call.post(call.heard.gather.get("action"), {"CallSid": f"CA{i}", "Digits": "1"})
        call.post(call.heard.gather.get("action"), {"CallSid": f"CA{i}", "Digits": "2"})
    if voicemail:
        saved(client, "RE7")
    return 3 * count


def saved(client, sid: str):
    response = signed_post(client, "/ivr/voicemail/saved?lang=es", {
        "CallSid": "CA-vm", "RecordingSid": sid, "RecordingUrl": RECORDING_URL, "RecordingStatus": "completed",
        "RecordingDuration": "30"})
    assert response.status_code == 200


@pytest.mark.parametrize("fault", FAULTS)
def test_no_step_is_lost_while_the_database_is_away(app, log, fault, caplog):
    assert calls(app, 1) and calllog.flush()
    with database_fault(fault, log):
        sent = calls(app, 20, voicemail=True)
        assert not calllog.flush()  # the writer tries, and tries again
        sent += calls(app, 10)
        assert not calllog.flush()
        assert log.held == sent + 1
    assert calllog.flush()
    assert len(log.rows()) == 3 + sent
    assert [message.recording_sid for message in log.messages()] == ["RE7"]
    assert caplog.text.count("call log: cannot write") == 1
    assert "call log: writing again" in caplog.text


def test_a_connection_broken_by_a_fault_is_replaced(app, log):
    """The read-only attack: the log never recovered until the workers restarted."""
    with database_fault("read-only", log):
        calls(app, 2)
        assert not calllog.flush()
    calls(app, 1)
    assert calllog.flush()
    assert len(log.rows()) == 9


def test_beyond_the_bound_steps_are_counted_logged_once_and_reported(app, log, monkeypatch, caplog):
    monkeypatch.setattr(calllog, "MAX_BUFFERED", 10)
    with database_fault("down", log):
        sent = calls(app, 6, voicemail=True)  # 18 steps: 10 held, 8 counted; the voicemail is held too
        assert not calllog.flush()
        assert log.held == 11
    assert caplog.text.count("no more are kept") == 1
    assert calllog.flush()
    assert len(log.rows()) == 10 and len(log.messages()) == 1
    assert log.steps_not_logged() == sent - 10 == 8
    runner = app.test_cli_runner()
    report = json.loads(runner.invoke(args=["report", "--format", "json"]).output)
    assert report["steps_not_logged"] == 8
    assert "Call steps not logged (the database was away longer than the line could hold them): 8." in \
        runner.invoke(args=["report"]).output


def test_a_replayed_recording_callback_is_one_voicemail_and_one_email(app, config, log):
    saved(app.test_client(), "RE7")
    saved(app.test_client(), "RE7")
    assert calllog.flush()
    saved(app.test_client(), "RE7")  # again later, to another worker with its own connection
    other = create_app(config)
    saved(other.test_client(), "RE7")
    assert calllog.flush()
    assert [message.recording_sid for message in log.messages()] == ["RE7"]
    with log.engine().connect() as connection:
        assert connection.execute(select(func.count()).select_from(schema.voicemail_emails)).scalar() == 1


def test_the_call_never_waits_for_the_database(app, log, monkeypatch):
    """A step only hands its row over: a locked database costs the caller nothing."""
    monkeypatch.setattr(calllog, "_wake_writer", lambda: None)  # no writer: only the request's own work
    used = []

    def count(*_args):
        used.append(1)

    with database_fault("locked", log):
        event.listen(log.engine(), "before_cursor_execute", count)
        try:
            calls(app, 3, voicemail=True)
        finally:
            event.remove(log.engine(), "before_cursor_execute", count)
    assert used == [] and log.held == 10


# -- a process killed during an outage (issue 19) -----------------------------------------------

KILLED_DURING_AN_OUTAGE = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from conftest import OPEN_HOURS, Call, signed_post
from ivr import calllog, create_app
calllog.FLUSH_SECONDS = calllog.RETRY_SECONDS = 0  # the writer tries all the time, and fails
app = create_app({{**{config!r}, "CLOCK": lambda: OPEN_HOURS}})
client = app.test_client()
for i in range({calls}):
    call = Call(client)
    call.post("/voice", {{"CallSid": f"CA{{i}}"}})
    call.post(call.heard.gather.get("action"), {{"CallSid": f"CA{{i}}", "Digits": "2"}})
    call.post(call.heard.gather.get("action"), {{"CallSid": f"CA{{i}}", "Digits": "1"}})
response = signed_post(client, "/ivr/voicemail/saved?lang=es", {{
    "CallSid": "CA-vm", "RecordingSid": "RE-killed", "RecordingUrl": "https://api.twilio.com/rec/RE-killed",
    "RecordingStatus": "completed", "RecordingDuration": "30"}})
assert calllog.flush() is False and app.extensions["ivr.calllog"].held == {calls} * 4 + 1  # and languages
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_during_an_outage_loses_nothing(config, tmp_path):
    """Issue 19: a worker killed while the database was away lost its whole buffer (328 rows)."""
    database = tmp_path / "calls.sqlite3"
    config.update(DATABASE_URL=f"sqlite:///{database}", CALLER_HASH_KEY="x" * 32)
    del config["CLOCK"]  # a function cannot be written into the program: it sets its own
    database.mkdir()  # the outage: SQLite cannot open a folder
    program = KILLED_DURING_AN_OUTAGE.format(tests=str(Path(__file__).parent), config=config, calls=100)
    killed = subprocess.run([sys.executable, "-c", program], cwd=Path(__file__).parent.parent,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    spool = tmp_path / "calls.sqlite3-spool"
    files = list(spool.iterdir())
    assert files and stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(file.stat().st_mode) == 0o600 for file in files)
    database.rmdir()  # the database is back; a new worker starts
    app = create_app({**config, "CLOCK": lambda: datetime(2026, 11, 2, 16)})
    log = app.extensions["ivr.calllog"]
    assert log.recover() == 100 * 3 + 1 + 100  # every step, the voicemail and 100 languages
    assert calllog.flush()
    assert len(log.rows()) == 300 and [m.recording_sid for m in log.messages()] == ["RE-killed"]
    assert list(spool.iterdir()) == []  # written: nothing to replay twice
    assert log.recover() == 0


def test_a_live_process_spool_is_not_replayed_and_a_written_one_is_gone(app, log, config):
    with database_fault("down", log):
        sent = calls(app, 3)
        assert not calllog.flush()
        other = create_app(config).extensions["ivr.calllog"]
        assert other.recover() == 0  # the first process is alive: its rows are its own
    assert calllog.flush() and len(log.rows()) == sent
    assert other.recover() == 0


def test_rows_written_before_a_failure_are_not_replayed_again(app, log, config, monkeypatch):
    monkeypatch.setattr(calllog, "BATCH_ROWS", 4)
    monkeypatch.setattr(calllog, "_wake_writer", lambda: None)
    sent = calls(app, 4)  # 12 rows: three batches
    stores, store = [], calllog.CallLog._store

    def fail_the_second(self, batch, dropped):
        stores.append(len(batch))
        if len(stores) == 2:
            raise OSError("the database went away")
        store(self, batch, dropped)

    monkeypatch.setattr(calllog.CallLog, "_store", fail_the_second)
    assert not log.flush()
    monkeypatch.undo()
    # What the spool holds now is what is not written yet, and nothing else.
    spool = log._spool
    rows = [row for path, _ in spool._sealed for row in map(spool._parse, path.read_bytes().splitlines())]
    assert len(rows) == sent - 4
    assert log.flush() and len(log.rows()) == sent
