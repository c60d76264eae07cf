"""Outboxes sent by a thread in each of the app's processes: text messages and call-back e-mails.

The pattern of the voicemail e-mails (ivr/voicemail_email.py), shared: the call log's writer puts
each row in its table (calllog.CallLog.add_to_outbox), once per request however often it is made.
A ``Sender`` thread in every process that answers calls looks for rows due, claims one (an UPDATE
only one process can win), delivers it, and notes the outcome. A delivery that may work later
(a server away, Twilio's 429 or 5xx) is tried again after RETRY_SECONDS; one that never will
(a number that has opted out) is noted as failed at once, and so is one still failing after the
outbox's ``give_up`` time.

Times: a pass is called with the time it starts (tests freeze it), and retries are counted from
it; a claim's expiry and when a row was sent are that time plus what the pass has taken since,
so a slow server cannot make a claim expire while its delivery is still going on.

Exactly once, with one limit no outbox avoids: a process that dies between the delivery being
accepted and the database noting it delivers it again after CLAIM_SECONDS.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import Row, Table, and_, select, update

logger = logging.getLogger(__name__)

# Seconds before trying again after the n-th failure: the first retry within 10 s, then never
# more than a minute apart (as voicemail e-mails).
RETRY_SECONDS = [5, 10, 20, 40, 60]
# A sender that claimed a row and vanished (a crash) leaves it to another after this long;
# longer than one delivery can take.
CLAIM_SECONDS = 90
POLL_SECONDS = 5


class Retry(Exception):
    """The delivery failed and may work later."""


class Refused(Exception):
    """The delivery failed and will never work: the row is noted as failed."""


def utc_naive(moment: datetime | None = None) -> datetime:
    return (moment or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)


class Sender:
    """One outbox table (columns: attempts, next_attempt_utc, sent_utc, failed_utc, last_error,
    time_utc) and how to deliver one of its rows."""

    def __init__(self, app: Flask, table: Table, name: str, deliver: Callable[[Row], dict | None],
                 give_up: timedelta, before_pass: Callable[[datetime], None] | None = None):
        self.app, self.table, self.name = app, table, name
        self.deliver, self.give_up, self.before_pass = deliver, give_up, before_pass
        self._key = [column for column in table.primary_key.columns]
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def _engine(self):
        return self.app.extensions["ivr.calllog"].engine()

    def _where_key(self, row: Row):
        return and_(*(column == getattr(row, column.name) for column in self._key))

    def send_due(self, now: datetime | None = None) -> int:
        """Deliver every row due at ``now`` (naive UTC, default the real time); the number delivered."""
        started, began = now or utc_naive(), time.monotonic()

        def moment() -> datetime:
            return started + timedelta(seconds=time.monotonic() - began)

        if self.before_pass is not None:
            self.before_pass(started)
        table = self.table
        with self._engine().connect() as connection:
            due = list(connection.execute(
                select(table).where(table.c.sent_utc.is_(None), table.c.failed_utc.is_(None),
                                    table.c.next_attempt_utc <= started)
                .order_by(table.c.next_attempt_utc)))
        delivered = 0
        for row in due:
            if not self._claim(row, moment()):
                continue  # another process has it
            try:
                noted = self.deliver(row) or {}
            except Retry as exc:
                at = moment()
                if row.time_utc + self.give_up <= at:
                    self._note(row, failed_utc=at, last_error=f"gave up: {exc}"[:300])
                    logger.error("%s %s: not delivered, gave up after %d tries (%s)",
                                 self.name, self._describe(row), row.attempts + 1, exc)
                    continue
                wait = RETRY_SECONDS[min(row.attempts + 1, len(RETRY_SECONDS)) - 1]
                self._note(row, next_attempt_utc=started + timedelta(seconds=wait), last_error=str(exc)[:300])
                if row.attempts == 0:
                    logger.error("%s %s: cannot deliver it yet (%s); trying again every minute at most",
                                 self.name, self._describe(row), exc)
                continue
            except Refused as exc:
                self._note(row, failed_utc=moment(), last_error=str(exc)[:300])
                logger.error("%s %s: refused, not tried again (%s)", self.name, self._describe(row), exc)
                continue
            self._note(row, sent_utc=moment(), last_error=None, **noted)
            if row.attempts:
                logger.warning("%s %s: delivered after %d failed tries", self.name, self._describe(row), row.attempts)
            delivered += 1
        return delivered

    def _describe(self, row: Row) -> str:
        return "/".join(str(getattr(row, column.name)) for column in self._key)

    def _claim(self, row: Row, at: datetime) -> bool:
        table = self.table
        with self._engine().begin() as connection:
            return connection.execute(
                update(table)
                .where(self._where_key(row), table.c.sent_utc.is_(None), table.c.failed_utc.is_(None),
                       table.c.attempts == row.attempts, table.c.next_attempt_utc <= at)
                .values(attempts=row.attempts + 1, next_attempt_utc=at + timedelta(seconds=CLAIM_SECONDS))
            ).rowcount == 1

    def _note(self, row: Row, **values) -> None:
        with self._engine().begin() as connection:
            connection.execute(update(self.table).where(self._where_key(row)).values(**values))

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.send_due()
            except Exception as exc:  # the database is away: the outbox waits for it (logged once)
                if not failing:
                    logger.warning("%s: cannot read the outbox (%s); trying again every %d s",
                                   self.name, type(exc).__name__, POLL_SECONDS)
                failing = True
            else:
                failing = False
            time.sleep(POLL_SECONDS)


def start_with_requests(app: Flask, sender: Sender) -> None:
    """Each process that answers calls runs the sender (started by its first request)."""
    if app.config.get("SERVES_CALLS", True) and not app.testing:
        app.before_request(sender.start)


