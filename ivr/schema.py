"""The database's tables, and the versioned migrations (Alembic, ivr/migrations/) that make them.

The tables below are what the code reads and writes; the migrations are how a database gets
them. Every process brings its database to the newest version before it first writes
(``upgrade``), under a lock so that any number of workers and hosts starting at once do it
once: PostgreSQL's advisory lock, or on SQLite a lock on a file next to the database and an
exclusive transaction. A
database already at the newest version costs one query and no lock.

Adding a table or a column: ivr/migrations/README.md.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (Column, DateTime, ForeignKey, Integer, MetaData, String, Table, create_engine, event,
                        text)
from sqlalchemy.engine import Connection, Engine, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
# Any number the line's processes agree on: pg_advisory_xact_lock takes one bigint.
POSTGRES_LOCK_KEY = 8_214_555_0100
# How long a process waits for another one's migration before giving up (it retries later).
MIGRATION_WAIT_SECONDS = 60

metadata = MetaData()

call_steps = Table(
    "call_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("call_sid", String(64), nullable=False),
    Column("time_utc", DateTime, nullable=False, index=True),
    Column("caller_hash", String(64)),
    Column("lang", String(2)),
    Column("event", String(16), nullable=False),
    Column("detail", String(64)),
    Column("seconds", Integer),
    Column("recording_url", String(300)),
    # What the caller asked, for a question nothing answered, and only with QUESTION_LOG=1.
    Column("asked", String(200)),
)

# One row per recording, whatever number of times Twilio posts its callback.
voicemails = Table(
    "voicemails",
    metadata,
    Column("recording_sid", String(64), primary_key=True),
    Column("call_sid", String(64), nullable=False),
    Column("time_utc", DateTime, nullable=False, index=True),
    Column("lang", String(2)),
    Column("seconds", Integer),
    Column("recording_url", String(300)),
)

# The outbox: the e-mail to send about each voicemail, written with it in one transaction.
voicemail_emails = Table(
    "voicemail_emails",
    metadata,
    Column("recording_sid", String(64), ForeignKey("voicemails.recording_sid", ondelete="CASCADE"),
           primary_key=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_utc", DateTime, nullable=False),
    Column("sent_utc", DateTime),
    Column("last_error", String(300)),
)

# The language each returning caller chose last (only with CALLER_HASH_KEY: by the keyed hash of
# their number, never the number), so the line greets them in it (ivr/language_memory.py).
caller_languages = Table(
    "caller_languages",
    metadata,
    Column("caller_hash", String(64), primary_key=True),
    Column("lang", String(2), nullable=False),
    Column("time_utc", DateTime, nullable=False, index=True),
)

# The text-message outbox (ivr/text_messages.py): one row per (call, topic) a caller asked to get
# by text, written by the call log's writer. No number: the sender asks Twilio for the call's
# From; the keyed hash is for the daily limit per number.
text_messages = Table(
    "text_messages",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("topic", String(32), primary_key=True),
    Column("lang", String(2), nullable=False),
    Column("caller_hash", String(64), nullable=False, index=True),
    Column("time_utc", DateTime, nullable=False, index=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_utc", DateTime, nullable=False),
    Column("sent_utc", DateTime),
    Column("failed_utc", DateTime),
    Column("message_sid", String(64)),
    Column("last_error", String(300)),
)

# Call-back requests (ivr/callbacks.py): at most one open per number (its keyed hash), the number
# itself only encrypted (Fernet), each with the e-mail that tells the clinic (an outbox). Deleted
# when done or after 30 days.
callback_requests = Table(
    "callback_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("caller_hash", String(64), nullable=False, unique=True),
    Column("number_encrypted", String(300), nullable=False),
    Column("call_sid", String(64), nullable=False),
    Column("lang", String(2)),
    Column("time_utc", DateTime, nullable=False, index=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_utc", DateTime, nullable=False),
    Column("sent_utc", DateTime),
    Column("failed_utc", DateTime),
    Column("last_error", String(300)),
)

# Outboxes the call log's writer fills (calllog.CallLog.add_to_outbox), by the columns that make a
# row unique: a repeated request adds nothing.
OUTBOXES = {text_messages: ["call_sid", "topic"], callback_requests: ["caller_hash"]}

# Steps a process could not keep while the database was away longer than its buffer holds.
dropped_steps = Table(
    "dropped_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("time_utc", DateTime, nullable=False),
    Column("steps", Integer, nullable=False),
)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


_head: str | None = None
_upgraded: set[str] = set()
_upgrading = threading.Lock()


def head() -> str:
    global _head
    if _head is None:
        _head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return _head


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest version, once per process; raises if it cannot."""
    with _upgrading:
        if url in _upgraded:
            return
        with _sqlite_file_lock(url):
            engine = _migration_engine(url)
            try:
                with engine.connect() as connection:
                    up_to_date = current(connection) == head()
                if not up_to_date:
                    with engine.begin() as connection:
                        _lock(connection)
                        # Another process may have done it while we waited: Alembic reads the version again.
                        command.upgrade(alembic_config(connection), "head")
            finally:
                engine.dispose()
        _upgraded.add(url)


@contextlib.contextmanager
def _sqlite_file_lock(url: str):
    """On SQLite, processes also take turns from the first connection on: two of them opening a
    new file at once can meet SQLite's busy error, which does not wait, while it switches to WAL.
    (A SQLite file is only ever shared by the processes of one host.)"""
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    private_sqlite_file(database)
    descriptor = os.open(f"{database}-migrating", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # and with it the lock


def forget_upgrades() -> None:
    """Check again on the next upgrade() (tests that empty a database)."""
    with _upgrading:
        _upgraded.clear()


def _lock(connection: Connection) -> None:
    """Held until the transaction ends; the migration runs inside it."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite begins no transaction for DDL by itself; this one also keeps other writers out.
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
    else:
        raise RuntimeError(f"no migration lock for {connection.dialect.name}")


def _migration_engine(url: str) -> Engine:
    """Its own short-lived engine: it waits for another process's migration, which a web
    request's connection must never do, and is gone before gunicorn forks its workers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        private_sqlite_file(parsed.database)
        engine = create_engine(parsed, connect_args={"timeout": MIGRATION_WAIT_SECONDS})

        @event.listens_for(engine, "connect")
        def _wal(connection, _record):
            connection.execute("PRAGMA journal_mode=WAL")

        return engine
    # Every wait bounded, as on the call log's connections (calllog.postgres_timeouts), but long
    # enough for another process's migration.
    wait_ms = MIGRATION_WAIT_SECONDS * 1000
    return create_engine(parsed, connect_args={
        "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 1, "keepalives_count": 2,
        "options": f"-c lock_timeout={wait_ms} -c statement_timeout={wait_ms}"})


def private_sqlite_file(database: str | None) -> None:
    """The SQLite file, and the folders made for it, readable by the service's user only: the
    log holds voicemail addresses. SQLite gives its -wal and -shm files the file's permissions."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    missing = [folder for folder in [path.parent, *path.parent.parents] if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # whatever the umask
    if path.exists():
        for each in [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]:
            if each.exists() and (mode := each.stat().st_mode) & 0o077:
                each.chmod(mode & 0o700)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
