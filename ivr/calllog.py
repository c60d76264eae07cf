"""The call log: one row per step of every call, so the clinic can see how the line is used.

Rows go through SQLAlchemy Core to SQLite (instance/calls.sqlite3, WAL mode, readable by the
service's user only) or to the PostgreSQL that DATABASE_URL names, so several web servers can
share one log. The tables are made by versioned migrations (ivr/schema.py), at start-up and
again before the first write if the database was away then.

The log never gets in a call's way and loses nothing: a step only hands its row to this
process's buffer (and its spool file); one writer thread writes the buffer every FLUSH_SECONDS, in one transaction.
While the database is locked, read-only or down, the rows stay in the buffer (up to
MAX_BUFFERED per process) and the writer tries again every RETRY_SECONDS on new connections,
logging the outage once and its end once. Past the bound, steps are counted and the count is
written when the database is back (the report shows it). Voicemails (one row per RecordingSid,
with their e-mail in the same transaction) are always held.

What a crash can lose: nothing when a worker is killed outright (SIGKILL, out of memory, a
segfault): every held row is also in the worker's spool file (Spool), which the next worker
to start replays. Every ordinary stop (gunicorn's restarts and shutdowns, its timeout,
Ctrl-C) writes them first, if the database takes them within EXIT_FLUSH_SECONDS: at exit and
in gunicorn.conf.py's worker_exit. The machine going down can lose what the page cache had not
written of the spool, and on SQLite undo the last transactions (synchronous=NORMAL, see
_create_engine).

No webhook waits on the database (issue 19): a step only hands its row over, and the one read
on a call's path (language_memory's, at /voice) goes through read_within_budget, which gives
up after WEBHOOK_BUDGET_SECONDS.

Caller numbers are patient data: only a keyed hash (HMAC-SHA256 with CALLER_HASH_KEY) is
kept, so repeat callers can be counted but not identified. Voicemail audio stays at Twilio;
the log keeps its address.

A row's ``event``, and what ``detail`` then holds:
  greeting        a call was answered: the greeting and the language menu (detail: "language"),
                  or a returning caller's greeting and the topics (detail: "topics")
  menu            a menu was said (detail: the menu, "language", or a topic for its after-summary menu)
  no_input, invalid_choice   a menu was said again after silence or a wrong key (detail: the menu)
  repeat          a menu was said again after a key that does nothing there (detail: the menu)
  emergency       key 9: the 911 line, then the menu again (detail: the menu)
  summary         a summary was played (detail: the topic)
  transfer        the call was put through to the clinic
  dial            the clinic call ended or never connected (detail: Twilio's DialCallStatus; seconds)
  record          the caller was asked to leave a message after the beep
  recorded        the recording ended (seconds)
  goodbye         the line said goodbye after three tries (detail: why)
  question        the caller asked a question (detail: the entry that answered it, "unanswered" or
                  "emergency"; asked: the words, only unanswered ones and only with QUESTION_LOG=1)
  text            the caller pressed 5 for a summary by text and heard "I will send it now" (detail: the topic)
  call_back       key 5 where the clinic does not answer (detail: the menu, when the number was read
                  back; "confirmed"; "declined")
  error           something failed and the caller heard an apology
  status          the call ended (detail: Twilio's CallStatus; seconds: the call's length)
"""
from __future__ import annotations

import atexit
import fcntl
import functools
import hashlib
import hmac
import itertools
import json
import logging
import os
import queue
import re
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import Blueprint, Flask, current_app, g, request
from sqlalchemy import DateTime, Table, create_engine, delete, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, Row, make_url
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from . import SettingsError, asking, flow, offers, report, schema, signatures, views
from .guard import quoted
from .schema import OUTBOXES, caller_languages, call_steps, dropped_steps, voicemail_emails, voicemails
from .simulator import SIMULATED_CALL

logger = logging.getLogger(__name__)

bp = Blueprint("calllog", __name__, cli_group=None)
# Twilio's status callbacks are webhooks like any other: signed, checked the same way.
bp.before_request(signatures.check_signature)

# A webhook waits at most this long for the database (issue 19): a look-up that takes longer,
# on any driver, is given up and the caller hears the normal opening. It runs in one of
# READERS threads of the process; while all of them are still waiting (a hung server), a
# webhook does not wait at all.
WEBHOOK_BUDGET_SECONDS = 0.05
READERS = 2
# Every connection, the writer's and the readers': a busy SQLite file or an unreachable,
# locked or slow PostgreSQL makes a statement fail after this long instead of waiting.
SQLITE_BUSY_SECONDS = 0.5
POSTGRES_CONNECT_SECONDS = 2  # libpq's shortest
POSTGRES_STATEMENT_MS = 1000
POSTGRES_LOCK_MS = 500
POSTGRES_IDLE_IN_TRANSACTION_MS = 5000
# A TCP connection to a server that stopped answering is dropped after this long (libpq's
# keepalives and tcp_user_timeout; a Unix socket has neither).
POSTGRES_TCP_SECONDS = 5
# At exit (gunicorn's worker_exit, atexit), wait at most this long for a writer that is stuck
# on a hung database: what it holds is in the spool file anyway.
EXIT_FLUSH_SECONDS = 2
# Rows wait at most this long to be written, all of them in one transaction: a transaction
# per step cost a third of a webhook (see make bench).
FLUSH_SECONDS = 0.2
# While the database is locked, read-only or down, rows wait in memory and the writer tries
# again this often, with a new connection each time.
RETRY_SECONDS = 1.0
# Rows held per process: the heaviest load measured (654 steps/s for the whole server, issue 13)
# for over 75 s, in about 30 MB. Beyond it, steps are counted, not kept (see report).
MAX_BUFFERED = 50_000
# Rows per transaction when a backlog is written.
BATCH_ROWS = 2000

# A shorter key is guessed by brute force in moments, and with it every hashed number.
MIN_HASH_KEY_LENGTH = 32
MAKE_A_KEY = 'python3 -c "import secrets; print(secrets.token_hex(32))"'
NO_HASH_KEY_WARNING = (
    "CALLER_HASH_KEY is not set: the call log keeps no trace of caller numbers, "
    "so the report cannot count repeat callers."
)



class Spool:
    """Every row a process holds, appended to a file of its own (0600, in a 0700 folder) as it is
    held, so that a process killed outright (kill -9, out of memory) loses nothing: the next
    process to start replays what it left (``orphans``). A file is deleted once the database has
    every row in it. Each flush seals the current file and starts a new one; while the database
    is away the sealed files stay. A process holds a lock (flock) on each of its files: a file
    nobody holds is an orphan. Safe against a killed process, not against the machine losing
    power (no fsync on each row: the page cache outlives the process).

    The one window left: killed between the database's commit and the file's deletion, a
    process's last batch is written twice on replay (voicemails and languages are not: they
    are keyed)."""

    TABLES = {table.name: table for table in (call_steps, voicemails, caller_languages, *OUTBOXES)}

    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self._pid: int | None = None
        self._current: tuple[Path, int] | None = None
        self._sealed: list[tuple[Path, int]] = []

    def add(self, table: Table, row: dict) -> None:
        """One row, at the end of the current file (under ``lock``)."""
        line = _SPOOL_LINE.encode([table.name, row]).encode() + b"\n"
        try:
            os.write(self._file()[1], line)
        except OSError as exc:  # a full disk: the row is still held in memory, as before spools
            self._complain(exc)

    def seal(self) -> None:
        """The rows added so far are the next write's: new rows go to a new file (under ``lock``)."""
        if self._current is not None and self._pid == os.getpid():
            self._sealed.append(self._current)
        self._current = None

    def written(self) -> None:
        """The database has every row of the sealed files."""
        sealed, self._sealed = self._sealed, []
        for path, descriptor in sealed:
            _remove(path, descriptor)

    def rewrite(self, rows: list[tuple[Table, dict]]) -> None:
        """Part of the sealed rows were written: keep only ``rows`` (the rest) in one new file (under ``lock``)."""
        current, self._current = self._current, None
        for table, row in rows:
            self.add(table, row)
        self.seal()
        replaced, self._sealed = self._sealed[:-1], self._sealed[-1:]
        self._current = current
        for path, descriptor in replaced:
            _remove(path, descriptor)

    def sync(self) -> None:
        if self._current is not None:
            os.fsync(self._current[1])

    def orphans(self):
        """The rows of each file no live process holds, one file at a time; the file is deleted
        once its rows are in this process's own file (the caller adds them, then asks for the next)."""
        if not self.folder.is_dir():
            return
        own = {path for path, _ in [*self._sealed, *([self._current] if self._current else [])]}
        for path in sorted(self.folder.glob("*.spool")):
            if path in own:
                continue
            try:
                descriptor = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # another process took it
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(descriptor).st_nlink == 0:  # replayed and deleted while we waited
                    continue
                with os.fdopen(os.dup(descriptor), "rb") as file:
                    rows = [row for line in file if (row := self._parse(line)) is not None]
                yield rows
                path.unlink()
            except BlockingIOError:  # its process is alive
                continue
            finally:
                os.close(descriptor)

    def discard(self) -> None:
        with self.lock:
            self.seal()
            self.written()

    def _file(self) -> tuple[Path, int]:
        if self._pid != os.getpid():  # a forked worker: its parent's files are not its own
            self._pid, self._current, self._sealed = os.getpid(), None, []
        if self._current is None:
            _private_folder(self.folder)
            # Numbered across every spool of the process: two call logs on one folder (two apps in
            # one process) must never open, truncate and lock each other's file.
            path = self.folder / f"{os.getpid()}-{next(_SPOOL_FILE_NUMBERS)}.spool"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            self._current = (path, descriptor)
        return self._current

    def _parse(self, line: bytes) -> tuple[Table, dict] | None:
        try:
            name, row = json.loads(line)
            table = self.TABLES[name]
        except (ValueError, KeyError, TypeError):  # the last line of a process killed mid-write
            return None
        for column in table.columns:
            if isinstance(column.type, DateTime) and isinstance(row.get(column.name), str):
                row[column.name] = datetime.fromisoformat(row[column.name])
        return table, row

    _complained = False

    def _complain(self, exc: OSError) -> None:
        if not Spool._complained:
            Spool._complained = True
            logger.error("call log: no spool file in %s (%s): until there is one, a killed process loses the "
                         "steps it holds", quoted(self.folder), _short(exc))


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a call log row")


_SPOOL_LINE = json.JSONEncoder(default=_iso, separators=(",", ":"))
_SPOOL_FILE_NUMBERS = itertools.count(1)


def _remove(path: Path, descriptor: int) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    os.close(descriptor)


def _private_folder(folder: Path) -> None:
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)


class CallLog:
    """One process's connection to the log, and the rows it holds until the database takes them.
    The engine is made, and the database migrated, on first use."""

    def __init__(self, url: str, spool: Path | None = None):
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._buffer: deque[tuple[Table, dict]] = deque()
        # Every held row is also in a spool file (see Spool): a killed process loses none.
        self._spool = Spool(spool) if spool is not None else None
        self._flushing = threading.Lock()
        self._failing = False
        self._dropped = 0  # steps not kept, not yet counted in the database
        self._dropped_since: datetime | None = None
        self._storing = 0  # rows taken from the buffer by a write still under way
        # Languages chosen on this process and not yet written: newer than the database's.
        self._languages_held: dict[str, dict] = {}
        _logs.add(self)

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                schema.upgrade(self.url)
                self._engine = _create_engine(self.url)
            return self._engine

    def write(self, row: dict) -> None:
        """Hold one step's row for the writer thread; never raises, never waits for the database."""
        self._hold(call_steps, row)

    def add_voicemail(self, row: dict) -> None:
        """Hold a voicemail (one per RecordingSid, however often Twilio posts it) and its e-mail."""
        self._hold(voicemails, row)

    def remember_language(self, row: dict) -> None:
        """Hold a returning caller's language: {caller_hash, lang, time_utc} (language_memory.py)."""
        self._languages_held[row["caller_hash"]] = row
        self._hold(caller_languages, row)

    def add_to_outbox(self, table: Table, row: dict) -> None:
        """Hold a row of an outbox (schema.OUTBOXES: a text message, a call-back request), written
        once per its unique key however often it is held; always held, like voicemails."""
        self._hold(table, row)

    def recall_language(self, caller_hash: str, since: datetime) -> str | None:
        """The language the caller of ``caller_hash`` chose last, if since ``since``: the later of
        the database's row and a choice this process holds, not yet written. Raises DatabaseLate
        after WEBHOOK_BUDGET_SECONDS, or what the database raised: never a guess from a cache,
        which another worker or host may have made wrong."""
        query = (select(caller_languages.c.lang, caller_languages.c.time_utc)
                 .where(caller_languages.c.caller_hash == caller_hash))

        def look_up() -> Row | None:
            with self.engine().connect() as connection:
                return connection.execute(query).first()

        stored = read_within_budget(look_up)
        held = self._languages_held.get(caller_hash)
        choices = [(row["time_utc"], 1, row["lang"]) for row in [held] if row is not None]
        choices += [(stored.time_utc, 0, stored.lang)] if stored is not None else []
        # The latest choice; on equal times the held one, which the database has not seen yet.
        latest = max(choices, default=None)
        return latest[2] if latest is not None and latest[0] >= to_utc(since) else None

    def _hold(self, table: Table, row: dict) -> None:
        # Voicemails are few and matter most: always held.
        if len(self._buffer) + self._storing >= MAX_BUFFERED and table is call_steps:
            if not self._dropped:
                self._dropped_since = row["time_utc"]
                logger.error("call log: the database has been away too long; %d steps are held in memory "
                             "and no more are kept (counted in the report) until it is back", len(self._buffer))
            self._dropped += 1
            return
        if self._spool is None:
            self._buffer.append((table, row))
        else:
            with self._spool.lock:  # the buffer and the spool file in the same order
                self._buffer.append((table, row))
                self._spool.add(table, row)
        _wake_writer()

    @property
    def held(self) -> int:
        return len(self._buffer)

    def flush(self, timeout: float | None = None) -> bool:
        """Write what is held, oldest first; True when all of it is in the database. Never raises.
        ``timeout``: give up after that long if another flush is stuck on a hung database."""
        if not self._flushing.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            return self._flush()
        finally:
            self._flushing.release()

    def _flush(self) -> bool:
        # The rows held now, and the spool files that hold them; later ones are the next flush's.
        if self._spool is not None:
            with self._spool.lock:
                left = len(self._buffer)
                self._spool.seal()
        else:
            left = len(self._buffer)
        written = 0
        while left or self._dropped:
            batch = [self._buffer.popleft() for _ in range(min(BATCH_ROWS, left))]
            dropped = self._dropped
            try:
                self._storing = len(batch)
                self._store(batch, dropped)
            except Exception as exc:  # locked, read-only, down: keep the rows, try again later
                self._buffer.extendleft(reversed(batch))
                self._storing = 0
                if self._spool is not None and written:  # the sealed files also hold rows now written
                    with self._spool.lock:
                        self._spool.rewrite(list(self._buffer)[:left])
                self._reconnect()
                if not self._failing:
                    self._failing = True
                    logger.error("call log: cannot write (%s); calls go on, their steps are held in memory "
                                 "and written when the database is back", _short(exc))
                return False
            self._storing = 0
            self._dropped -= dropped
            left -= len(batch)
            written += len(batch)
        if self._spool is not None:
            self._spool.written()
        if self._failing:
            self._failing = False
            logger.warning("call log: writing again; every step held meanwhile is written")
        return True

    def _store(self, batch: list[tuple[Table, dict]], dropped: int) -> None:
        steps = [_fit(row) for table, row in batch if table is call_steps]
        messages = [_fit(row, voicemails) for table, row in batch if table is voicemails]
        held_languages = [row for table, row in batch if table is caller_languages]
        # One row per caller, the batch's last; PostgreSQL refuses to update a row twice in one statement.
        languages = list({row["caller_hash"]: _fit(row, caller_languages) for row in held_languages}.values())
        with self.engine().begin() as connection:
            if steps:
                connection.execute(call_steps.insert(), steps)
            insert = _insert_if_new(connection)
            if languages:  # one statement for the batch; a later choice is never overwritten by an earlier one
                statement = insert(caller_languages)
                connection.execute(statement.on_conflict_do_update(
                    index_elements=["caller_hash"],
                    set_={"lang": statement.excluded.lang, "time_utc": statement.excluded.time_utc},
                    where=caller_languages.c.time_utc <= statement.excluded.time_utc), languages)
            if messages:
                # A replayed callback finds its voicemail, and its e-mail, already there.
                connection.execute(insert(voicemails).on_conflict_do_nothing(index_elements=["recording_sid"]),
                                   messages)
                connection.execute(insert(voicemail_emails).on_conflict_do_nothing(index_elements=["recording_sid"]),
                                   [{"recording_sid": message["recording_sid"], "next_attempt_utc": message["time_utc"]}
                                    for message in messages])
            for table, row in batch:
                if table in OUTBOXES:  # a second request for the same thing is not a second row
                    connection.execute(insert(table).values(_fit(row, table))
                                       .on_conflict_do_nothing(index_elements=OUTBOXES[table]))
            if dropped:
                connection.execute(dropped_steps.insert(), {"time_utc": self._dropped_since, "steps": dropped})
        for row in held_languages:  # in the database now
            if self._languages_held.get(row["caller_hash"]) is row:
                del self._languages_held[row["caller_hash"]]

    def recover(self) -> int:
        """Hold again what processes that died (kill -9, out of memory) left in their spool files;
        the number of rows."""
        if self._spool is None:
            return 0
        count = 0
        for rows in self._spool.orphans():
            with self._spool.lock:
                for table, row in rows:
                    self._buffer.append((table, row))
                    self._spool.add(table, row)
                self._spool.sync()
            count += len(rows)
        if count:
            logger.warning("call log: %d steps left by a process that was killed are written now", count)
            _wake_writer()
        return count

    def discard_spool(self) -> None:
        """Forget this process's spool files (tests: a log whose test ended)."""
        if self._spool is not None:
            self._spool.discard()

    def _reconnect(self) -> None:
        """A connection that failed may stay broken (a SQLite file opened read-only, a server
        that restarted): the next try opens new ones."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()

    def rows(self, since: datetime | None = None) -> list[Row]:
        self.flush()  # what this process holds is part of the log
        query = select(call_steps).order_by(call_steps.c.time_utc, call_steps.c.id)
        if since is not None:
            query = query.where(call_steps.c.time_utc >= to_utc(since))
        with self.engine().connect() as connection:
            return list(connection.execute(query))

    def messages(self, since: datetime | None = None) -> list[Row]:
        """Voicemails in time order, each with when its e-mail was sent (or None), and why its last
        try failed."""
        self.flush()
        query = (select(voicemails, voicemail_emails.c.sent_utc, voicemail_emails.c.last_error)
                 .join(voicemail_emails, voicemail_emails.c.recording_sid == voicemails.c.recording_sid,
                       isouter=True)
                 .order_by(voicemails.c.time_utc, voicemails.c.recording_sid))
        if since is not None:
            query = query.where(voicemails.c.time_utc >= to_utc(since))
        with self.engine().connect() as connection:
            return list(connection.execute(query))

    def steps_not_logged(self, since: datetime | None = None) -> int:
        query = select(func.coalesce(func.sum(dropped_steps.c.steps), 0))
        if since is not None:
            query = query.where(dropped_steps.c.time_utc >= to_utc(since))
        with self.engine().connect() as connection:
            return int(connection.execute(query).scalar()) + self._dropped

    def count_before(self, before: datetime) -> int:
        """The rows purge(before) would delete."""
        self.flush()
        cutoff = to_utc(before)
        with self.engine().connect() as connection:
            return sum(connection.execute(select(func.count()).select_from(table).where(table.c.time_utc < cutoff))
                       .scalar_one() for table in (voicemails, call_steps, caller_languages, *OUTBOXES))

    def purge(self, before: datetime) -> int:
        self.flush()
        cutoff = to_utc(before)
        with self.engine().begin() as connection:
            connection.execute(delete(dropped_steps).where(dropped_steps.c.time_utc < cutoff))
            connection.execute(delete(voicemail_emails).where(voicemail_emails.c.recording_sid.in_(
                select(voicemails.c.recording_sid).where(voicemails.c.time_utc < cutoff))))
            deleted = connection.execute(delete(voicemails).where(voicemails.c.time_utc < cutoff)).rowcount
            deleted += connection.execute(delete(caller_languages).where(caller_languages.c.time_utc < cutoff)).rowcount
            for table in OUTBOXES:  # text messages; call-back requests also go after 30 days (callbacks.py)
                deleted += connection.execute(delete(table).where(table.c.time_utc < cutoff)).rowcount
            return deleted + connection.execute(delete(call_steps).where(call_steps.c.time_utc < cutoff)).rowcount


def _insert_if_new(connection):
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[connection.dialect.name]


# -- the writer: one thread per process, started on the first row -------------------------

_logs: weakref.WeakSet[CallLog] = weakref.WeakSet()
_pending = threading.Event()
_starting = threading.Lock()
_writer: threading.Thread | None = None


def _wake_writer() -> None:
    global _writer
    if not _pending.is_set():
        _pending.set()
    # Not alive: never started in this process (threads do not survive gunicorn's fork), or died.
    if _writer is None or not _writer.is_alive():
        with _starting:
            if _writer is None or not _writer.is_alive():
                _writer = threading.Thread(target=_write_in_background, name="call log writer", daemon=True)
                _writer.start()


def _write_in_background() -> None:
    try:
        recover()
    except Exception:
        logger.exception("call log: cannot read the spool files of killed processes")
    while True:
        _pending.wait()
        time.sleep(FLUSH_SECONDS)  # the steps of the next FLUSH_SECONDS go in the same transaction
        _pending.clear()
        if not flush():
            time.sleep(RETRY_SECONDS)
            _pending.set()


def forget() -> None:
    """Hold nothing more for the logs made so far (tests: the apps of a test that ended)."""
    for log in list(_logs):
        log.discard_spool()
    _logs.clear()


def recover() -> int:
    """Every log's orphaned spool files, held again (gunicorn's post_worker_init, the writer's start)."""
    return sum(log.recover() for log in list(_logs))


def flush(timeout: float | None = None) -> bool:
    """Write every row this process holds now (the writer does this every FLUSH_SECONDS; also at
    exit). False if the database did not take them all: they are still held."""
    written = True
    for log in list(_logs):
        written &= log.flush(timeout)
    return written


@atexit.register
def flush_at_exit() -> bool:
    return flush(EXIT_FLUSH_SECONDS)


# -- the readers: what a webhook asks the database, within its budget ----------------------


class DatabaseLate(Exception):
    """The database did not answer within the webhook's budget."""


_jobs: queue.SimpleQueue = queue.SimpleQueue()
_free_readers = threading.Semaphore(0)
_readers_pid: int | None = None
_readers_starting = threading.Lock()


def read_within_budget(look_up, budget: float | None = None):
    """``look_up()``'s result if one of this process's reader threads gets it within ``budget``
    (default WEBHOOK_BUDGET_SECONDS); raises DatabaseLate otherwise, at once if every reader is
    still busy with an earlier look-up, or what ``look_up`` raised. A late look-up goes on in its
    thread (bounded by the connection's own timeouts) and its answer is dropped."""
    budget = WEBHOOK_BUDGET_SECONDS if budget is None else budget
    _start_readers()
    if not _free_readers.acquire(blocking=False):
        raise DatabaseLate(f"all {READERS} readers are still waiting for the database")
    answered, box = threading.Event(), []
    _jobs.put((look_up, box, answered))
    if not answered.wait(budget):
        raise DatabaseLate(f"no answer within {budget * 1000:.0f} ms")
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def prepare_readers() -> None:
    """Start this process's readers and let each open its connection, without waiting: a new
    worker's first look-up would otherwise pay for connecting (gunicorn's post_worker_init)."""
    _start_readers()
    for log in list(_logs):
        if _free_readers.acquire(blocking=False):
            _jobs.put((lambda log=log: log.engine().connect().close(), [], threading.Event()))


def _start_readers() -> None:
    global _free_readers, _jobs, _readers_pid
    if _readers_pid == os.getpid():
        return
    with _readers_starting:  # threads do not survive gunicorn's fork: each worker starts its own
        if _readers_pid != os.getpid():
            _jobs, _free_readers = queue.SimpleQueue(), threading.Semaphore(READERS)
            for number in range(READERS):
                threading.Thread(target=_read, args=(_jobs, _free_readers), name=f"call log reader {number + 1}",
                                 daemon=True).start()
            _readers_pid = os.getpid()


def _read(jobs: queue.SimpleQueue, free: threading.Semaphore) -> None:
    while True:
        look_up, box, answered = jobs.get()
        try:
            box.append(look_up())
        except Exception as exc:
            box.append(exc)
        answered.set()
        free.release()


def _create_engine(url: str) -> Engine:
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_timeout=POSTGRES_CONNECT_SECONDS, connect_args=postgres_timeouts())
    schema.private_sqlite_file(url.database)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _wal(connection, _record):
        # WAL: the report reads while web workers write; NORMAL: no fsync on every step.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def postgres_timeouts() -> dict:
    """libpq's parameters that bound every wait of a connection: connecting, a statement, a lock,
    an idle transaction, and a TCP peer that stopped answering."""
    return {
        "connect_timeout": POSTGRES_CONNECT_SECONDS,
        "options": f"-c statement_timeout={POSTGRES_STATEMENT_MS} -c lock_timeout={POSTGRES_LOCK_MS} "
                   f"-c idle_in_transaction_session_timeout={POSTGRES_IDLE_IN_TRANSACTION_MS}",
        "keepalives": 1, "keepalives_idle": POSTGRES_TCP_SECONDS, "keepalives_interval": 1,
        "keepalives_count": 2, "tcp_user_timeout": POSTGRES_TCP_SECONDS * 1000,
    }


def _fit(row: dict, table: Table = call_steps) -> dict:
    """Every column (rows of one INSERT must have the same keys), text cut to its column's size and
    without NUL (PostgreSQL refuses it): odd input never fails an INSERT."""
    fitted = {}
    for name, length in _columns(table):
        value = row.get(name)
        fitted[name] = value.replace("\x00", "")[:length] if isinstance(value, str) else value
    return fitted


@functools.cache
def _columns(table: Table) -> list[tuple[str, int | None]]:
    # Once per table: reading them from SQLAlchemy for every row cost more than the INSERT.
    return [(column.name, getattr(column.type, "length", None))
            for column in table.columns if column is not table.autoincrement_column]


def _short(exc: Exception) -> str:
    # SQLAlchemy's message goes on with the SQL and its parameters: keep the first line only.
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def to_utc(moment: datetime) -> datetime:
    """Naive UTC, as stored: SQLite has no time zones."""
    return moment.astimezone(UTC).replace(tzinfo=None)


# What Twilio puts in From when the caller's number is withheld (anonymous, restricted, blocked,
# unknown, unavailable): shared by every such caller, so never anyone's number.
WITHHELD_NUMBERS = {"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def caller_hash(number: str | None, key: str) -> str | None:
    """The caller's number as a keyed hash; nothing without a key, or for a number that is not one
    caller's (withheld, empty, not E.164): such callers are never remembered or counted as one."""
    number = (number or "").strip()
    if not key or not E164.fullmatch(number) or number in WITHHELD_NUMBERS:
        return None
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def database_url(app: Flask) -> str:
    return with_driver(app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'calls.sqlite3'}")


def spool_folder(app: Flask, url: str) -> Path | None:
    """Where the processes writing to ``url`` keep their spool files: next to a SQLite file, or in
    the instance folder, one folder per database (a spool is replayed into its own database only)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).with_name(Path(database).name + "-spool")
    name = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(app.instance_path) / "call-log-spool" / name


def with_driver(url: str) -> str:
    # Hosting services hand out postgres:// addresses; the driver installed is psycopg 3.
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def call_log() -> CallLog:
    return current_app.extensions["ivr.calllog"]


@bp.record_once
def _set_up(state) -> None:
    key = state.app.config["CALLER_HASH_KEY"]
    if key and len(key) < MIN_HASH_KEY_LENGTH:
        raise SettingsError(f"CALLER_HASH_KEY is {len(key)} characters, too short to protect caller numbers "
                           f"(at least {MIN_HASH_KEY_LENGTH}); make one with: {MAKE_A_KEY}")
    url = database_url(state.app)
    state.app.extensions["ivr.calllog"] = CallLog(url, spool_folder(state.app, url))
    try:
        schema.upgrade(url)
    except Exception as exc:  # the line still answers; the first write tries again
        logger.error("call log: cannot prepare the database (%s); calls go on, the log tries again", _short(exc))
    if not state.app.config["CALLER_HASH_KEY"] and state.app.config["SERVES_CALLS"]:
        state.app.logger.warning(NO_HASH_KEY_WARNING)


# -- what each webhook of the call adds to the log ------------------------------------


def _int(value: str | None) -> int | None:
    """Seconds from Twilio, or None if they are not a number an INTEGER column can hold."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**31 else None


def _row(**fields) -> dict:
    return {"call_sid": request.form.get("CallSid", ""), "time_utc": to_utc(views.now()),
            "lang": flow.parse_lang(request.args.get("lang")), **fields}


def _describe(step: flow.Step | None) -> dict:
    match step:
        case flow.Ask(at=at, lead=lead):
            # A returning caller's greeting starts a call too; the welcome is the topic menu's.
            event = {"returning": "greeting", "welcome": None}.get(lead, lead)
            return {"event": event or "menu", "detail": at}
        case flow.Summary(topic=topic):
            return {"event": "summary", "detail": topic}
        case flow.Transfer():
            return {"event": "transfer"}
        case flow.Voicemail():
            return {"event": "record"}
        case flow.Goodbye(lead=lead):
            return {"event": "goodbye", "detail": lead}
        case asking.Answer(entry=entry, words=words):
            keep = entry is None and current_app.config["QUESTION_LOG"]
            return {"event": "question", "detail": step.logged_as, "asked": words if keep else None}
        case asking.Emergency():
            return {"event": "question", "detail": "emergency"}
        case offers.SendText(topic=topic):
            return {"event": "text", "detail": topic}
        case offers.ConfirmCallBack(back=back) | offers.CallBackDeclined(back=back):
            return {"event": "call_back", "detail": "declined" if isinstance(step, offers.CallBackDeclined) else back}
        case offers.CallBackTaken():
            return {"event": "call_back", "detail": "confirmed"}
    return {"event": request.endpoint.rpartition(".")[2]}


def _step_row() -> dict:
    form, step = request.form, g.get("ivr_step")
    if g.get("ivr_failed"):
        return _row(event="error")
    if request.endpoint == "ivr.clinic_done":
        return _row(event="dial", detail=form.get("DialCallStatus"), seconds=_int(form.get("DialCallDuration")))
    if request.endpoint == "ivr.voicemail_done":
        return _row(event="recorded", seconds=_int(form.get("RecordingDuration")))
    row = _row(**_describe(step))
    if step is not None and step.lang:
        row["lang"] = step.lang
    if request.endpoint == "ivr.voice":
        row["caller_hash"] = caller_hash(form.get("From"), current_app.config["CALLER_HASH_KEY"])
    return row


@bp.after_app_request
def log_call_step(response):
    """After each answered step of a call, one row. Nothing here may fail the call."""
    # A simulated call (simulate, /preview) is staff trying the line, not a caller.
    simulated = request.environ.get(SIMULATED_CALL)
    if request.blueprint == views.bp.name and response.status_code == 200 and not simulated:
        try:
            row = _step_row()
        except Exception:
            logger.exception("call log: cannot describe %s", quoted(request.path))
        else:
            call_log().write(row)
    return response


# -- Twilio's callbacks: nobody is listening, so they answer an empty TwiML ----------


@bp.post("/ivr/voicemail/saved")
def voicemail_saved():
    """Record's recordingStatusCallback: the voicemail is ready at Twilio (never downloaded here)."""
    form = request.form
    seconds = _int(form.get("RecordingDuration")) or 0
    if form.get("RecordingStatus") != "completed" or seconds <= 0 or not form.get("RecordingUrl"):
        logger.info("call %s: empty recording, not kept as a message", quoted(form.get("CallSid", "?")))
    else:
        call_log().add_voicemail({"recording_sid": form.get("RecordingSid") or form["RecordingUrl"],
                                  "call_sid": form.get("CallSid", ""), "time_utc": to_utc(views.now()),
                                  "lang": flow.parse_lang(request.args.get("lang")), "seconds": seconds,
                                  "recording_url": form["RecordingUrl"]})
    return views.twiml(VoiceResponse())


@bp.post("/ivr/call/status")
def call_status():
    """The number's "call status changes" webhook: how the call ended, and its length."""
    form = request.form
    call_log().write(_row(event="status", detail=form.get("CallStatus"), seconds=_int(form.get("CallDuration"))))
    return views.twiml(VoiceResponse())


@bp.errorhandler(Exception)
def answer_anyway(error):
    """Never a 500, even here: Twilio would retry and log errors for nothing."""
    if isinstance(error, HTTPException):
        return error
    logger.exception("callback %s failed (call %s)", quoted(request.path), quoted(request.form.get("CallSid", "?")))
    return views.twiml(VoiceResponse())


# -- staff commands ------------------------------------------------------------------


def _day(_context, _param, value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d") if value else None
    except ValueError:
        raise click.BadParameter(f'write the day as year-month-day, like 2026-11-01, not "{value}"') from None


@bp.cli.command("report")
@click.option("--since", callback=_day, metavar="YYYY-MM-DD",
              help="Count calls from this day on (clinic time). Default: everything in the log.")
@click.option("--format", "output", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True, help="text to read, csv for a spreadsheet, json for programs.")
def report_command(since: datetime | None, output: str) -> None:
    """How callers use the line: calls per day, languages, topics, hang-ups, transfers, voicemails."""
    script = views.script()
    zone = script.clinic_hours.zone
    start = since.replace(tzinfo=zone) if since else None
    try:
        log = call_log()
        rows, messages, not_logged = log.rows(start), log.messages(start), log.steps_not_logged(start)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the call log: {_short(exc)}") from None
    summary = report.summarise(rows, zone, start, list(script.summaries), messages, not_logged,
                                list(script.questions.entries) if script.questions else [])
    try:  # key 5: texts sent and failed, open call-back requests
        summary.update(report.to_your_phone(log.engine(), start and to_utc(start), zone))
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the call log: {_short(exc)}") from None
    click.echo(report.render(summary, output), nl=False)


@bp.cli.command("purge")
@click.option("--older-than", "older_than", required=True, metavar="DAYS",
              help='Delete call log rows older than this many days, e.g. "90d".')
@click.option("--yes", is_flag=True, help="Delete without asking (for cron and scripts).")
def purge_command(older_than: str, yes: bool) -> None:
    """Delete call log rows older than a number of days (says how many, and asks first)."""
    match = re.fullmatch(r"(\d+)d?", older_than.strip())
    if not match:
        raise click.BadParameter(f'write a number of days, like "90d", not "{older_than}"',
                                 param_hint="--older-than")
    days = int(match.group(1))
    if days == 0 and not yes:
        raise click.BadParameter('"0d" deletes the whole call log; add --yes if that is really what you want',
                                 param_hint="--older-than")
    cutoff = views.now() - timedelta(days=days)
    local = cutoff.astimezone(views.script().clinic_hours.zone)
    try:
        count = call_log().count_before(cutoff)
        if count and not yes:
            click.confirm(f"Delete {count} call log rows from before {local:%Y-%m-%d %H:%M} ({days} days ago)?",
                          abort=True)
        deleted = call_log().purge(cutoff) if count else 0
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot purge the call log: {_short(exc)}") from None
    click.echo(f"Deleted {deleted} call log rows from before {local:%Y-%m-%d %H:%M} ({days} days ago).")
    click.echo("Voicemail recordings stay in the Twilio account until they are deleted there.")
