"""Returning callers go straight to their language.

With CALLER_HASH_KEY set, the language a caller chooses is kept for REMEMBERED_DAYS in the call
log's database (table caller_languages), by the same keyed hash of their number the call log
uses, never the number; every worker and host sharing the database shares it. ``purge`` deletes
it with the rest of the log. Without the key nothing is remembered and every caller hears the
language menu.

The look-up happens once a call, at /voice, and must cost the caller nothing: each process keeps
what it looked up for CACHE_SECONDS (a caller who changes language on another worker is greeted
in the new one at the latest that much later), and after the database failed it is not asked
again for RETRY_SECONDS: the caller gets the normal opening, never an error or a wait.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Blueprint, current_app, g, request

from . import flow
from .simulator import SIMULATED_CALL

bp = Blueprint("language_memory", __name__)
logger = logging.getLogger("ivr.language_memory")

REMEMBERED_DAYS = 90
CACHE_SECONDS = 60
CACHE_SIZE = 10_000
RETRY_SECONDS = 30


class Memory:
    """One process's cache in front of the database."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._failed_at: float | None = None

    def recall(self, log, caller: str, now) -> str | None:
        moment = time.monotonic()
        with self._lock:
            cached = self._cache.get(caller)
            if cached and cached[1] > moment:
                return cached[0]
            if self._failed_at is not None and moment - self._failed_at < RETRY_SECONDS:
                return None
        try:
            lang = log.recall_language(caller, now - timedelta(days=REMEMBERED_DAYS))
        except Exception as exc:  # locked, gone, unreachable: the normal opening
            with self._lock:
                if self._failed_at is None:
                    logger.error("language memory: cannot read the database (%s); callers hear the language "
                                 "menu until it is back", type(exc).__name__)
                self._failed_at = moment
            return None
        with self._lock:
            if self._failed_at is not None:
                logger.warning("language memory: reading the database again")
            self._failed_at = None
            self._keep(caller, flow.parse_lang(lang), moment)
        return flow.parse_lang(lang)

    def remember(self, log, caller: str, lang: str, now) -> None:
        with self._lock:
            self._keep(caller, lang, time.monotonic())
        log.remember_language({"caller_hash": caller, "lang": lang, "time_utc": now})

    def _keep(self, caller: str, lang: str | None, moment: float) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[caller] = (lang, moment + CACHE_SECONDS)


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
