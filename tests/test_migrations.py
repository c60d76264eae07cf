"""The database's schema: versioned migrations (ivr/migrations/), run once whatever the number
of processes starting at once, on SQLite and, in `make test-postgres`, on PostgreSQL."""
import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, inspect, select

from conftest import Call
from ivr import calllog, create_app, schema

ROOT = Path(__file__).parent.parent


@pytest.fixture
def config(config, database_url):
    config["DATABASE_URL"] = database_url
    return config


def engine_for(config):
    return create_engine(calllog.with_driver(config["DATABASE_URL"]))


def test_one_head_and_the_migrated_database_matches_the_code(config):
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    assert len(scripts.get_heads()) == 1, "two migrations share a parent: re-point yours (ivr/migrations/README.md)"
    create_app(config)
    engine = engine_for(config)
    try:
        with engine.connect() as connection:
            assert schema.current(connection) == scripts.get_current_head()
            assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []
    finally:
        engine.dispose()


WORKER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import OPEN_HOURS, Call
from ivr import calllog, create_app
config = {{**{config!r}, "CLOCK": lambda: OPEN_HOURS}}
print("ready", flush=True)
sys.stdin.readline()  # both processes start the app at the same moment
call = Call(create_app(config).test_client())
call.post("/voice", {{"From": sys.argv[1]}})  # two callers: neither is greeted in the other's language
call.press("1")
calllog.flush()
"""


def test_a_fresh_database_and_two_workers_starting_at_once_lose_nothing(config):
    """Each worker migrates and writes its first steps at once: both calls are in the log."""
    del config["CLOCK"]  # a function cannot be written into the program: it sets its own
    program = WORKER.format(tests=str(Path(__file__).parent), config=config)
    workers = [subprocess.Popen([sys.executable, "-c", program, f"+1214555000{n}"], cwd=ROOT, text=True, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(2)]
    for worker in workers:
        assert worker.stdout.readline() == "ready\n"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, errors) in zip(workers, outputs):
        assert worker.returncode == 0, errors
        assert "already exists" not in errors and "call log: cannot" not in errors, errors
    engine = engine_for(config)
    try:
        with engine.connect() as connection:
            steps = list(connection.execute(select(schema.call_steps.c.event)))
    finally:
        engine.dispose()
    assert sorted(step.event for step in steps) == ["greeting", "greeting", "menu", "menu"]


def test_a_log_from_before_migrations_is_kept(config):
    """Before migrations, create_all made call_steps: the first migration adopts it."""
    engine = engine_for(config)
    old = MetaData()
    Table("call_steps", old, Column("id", Integer, primary_key=True), Column("call_sid", String(64), nullable=False),
          Column("time_utc", DateTime, nullable=False, index=True), Column("caller_hash", String(64)),
          Column("lang", String(2)), Column("event", String(16), nullable=False), Column("detail", String(64)),
          Column("seconds", Integer), Column("recording_url", String(300)))
    try:
        old.create_all(engine)
        with engine.begin() as connection:
            connection.execute(old.tables["call_steps"].insert(),
                               {"call_sid": "CA-old", "time_utc": datetime(2026, 1, 1), "event": "menu"})
    finally:
        engine.dispose()
    app = create_app(config)
    Call(app.test_client()).answer()
    assert [row.call_sid for row in app.extensions["ivr.calllog"].rows()][0] == "CA-old"
    assert "voicemails" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's file and folder")
def test_the_sqlite_file_and_its_folder_are_private(config, tmp_path):
    folder = tmp_path / "instance"
    config["DATABASE_URL"] = f"sqlite:///{folder / 'calls.sqlite3'}"
    app = create_app(config)
    Call(app.test_client()).answer()
    app.extensions["ivr.calllog"].rows()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.glob("calls.sqlite3*"):  # the database, its -wal and -shm
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    # The last good scripts kept beside it (ivr/script_store.py) are private too.
    assert stat.S_IMODE((folder / "scripts-last-good").stat().st_mode) == 0o700


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's file")
def test_a_world_readable_database_is_made_private(config, tmp_path):
    database = tmp_path / "calls.sqlite3"
    config["DATABASE_URL"] = f"sqlite:///{database}"
    create_app(config)
    database.chmod(0o644)
    schema.forget_upgrades()
    create_app(config)
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
