"""Returning callers go straight to their language.

With CALLER_HASH_KEY set, the language a caller chooses is kept for REMEMBERED_DAYS in the call
log's database (table caller_languages), by the same keyed hash of their number the call log
uses, never the number; every worker and host sharing the database shares it. ``purge`` deletes
it with the rest of the log. Without the key nothing is remembered and every caller hears the
language menu; so does a caller whose number is withheld or not a phone number
(calllog.caller_hash): such callers are nobody in particular.

The look-up happens once a call, at /voice, and is always right or absent, never stale: the
database is asked every time (one primary-key read), and a choice this process made that the
writer has not stored yet wins if it is later. Nothing else is kept in the process, so no
worker or host can contradict what the caller chose last on another. The read waits at most
calllog.WEBHOOK_BUDGET_SECONDS (50 ms): later, or when the database fails, the caller hears the
normal opening, never an error, a wait or a guess.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Blueprint, current_app, g, request

from . import flow
from .simulator import SIMULATED_CALL

bp = Blueprint("language_memory", __name__)
logger = logging.getLogger("ivr.language_memory")

REMEMBERED_DAYS = 90


class Memory:
    """Logs a failing database once, and once when it answers again."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failing = False

    def recall(self, log, caller: str, now) -> str | None:
        from .calllog import DatabaseLate

        try:
            lang = log.recall_language(caller, now - timedelta(days=REMEMBERED_DAYS))
        except Exception as exc:  # late, locked, gone, unreachable: the normal opening
            with self._lock:
                if not self._failing:
                    self._failing = True
                    reason = str(exc) if isinstance(exc, DatabaseLate) else type(exc).__name__
                    logger.error("language memory: cannot read the database (%s); callers hear the language "
                                 "menu until it answers", reason)
            return None
        if self._failing:
            with self._lock:
                if self._failing:
                    self._failing = False
                    logger.warning("language memory: reading the database again")
        return flow.parse_lang(lang)

    def remember(self, log, caller: str, lang: str, now) -> None:
        log.remember_language({"caller_hash": caller, "lang": lang, "time_utc": now})


@bp.record_once
def _set_up(state) -> None:
    state.app.extensions["ivr.language_memory"] = Memory()


def _caller() -> str | None:
    """The keyed hash of this call's number, or None without CALLER_HASH_KEY (or a number)."""
    from .calllog import caller_hash

    if request.environ.get(SIMULATED_CALL):  # staff trying the line are nobody's language
        return None
    return caller_hash(request.form.get("From"), current_app.config["CALLER_HASH_KEY"])


def recall() -> str | None:
    """The language this call's caller chose before, if the line remembers it. Never raises."""
    from .calllog import call_log, to_utc

    try:
        caller = _caller()
        if caller is None:
            return None
        return current_app.extensions["ivr.language_memory"].recall(
            call_log(), caller, to_utc(current_app.config["CLOCK"]()))
    except Exception:
        logger.exception("language memory: look-up failed")
        return None


@bp.after_app_request
def remember_the_language(response):
    """A caller chose a language (or was greeted in it again): keep it, from today."""
    step = g.get("ivr_step")
    if response.status_code == 200 and isinstance(step, flow.Ask) and step.lead in ("welcome", "returning"):
        from .calllog import call_log, to_utc

        try:
            if caller := _caller():
                current_app.extensions["ivr.language_memory"].remember(
                    call_log(), caller, step.lang, to_utc(current_app.config["CLOCK"]()))
        except Exception:
            logger.exception("language memory: cannot keep the language")
    return response
