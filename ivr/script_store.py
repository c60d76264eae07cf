"""The scripts the line speaks, reloaded safely when staff change the files on disk.

Each set of scripts that loaded without errors is a *version*, named by a short hash of
the files' contents, so every worker that reads the same files gives it the same name.
Every webhook URL of a call names its version (``?v=...``, added in views), so a caller
mid-call keeps hearing the version the call started with while new calls get the newest.

A new call (a request naming no version) looks at the files at most once a second: one
``stat`` per file, no reading unless something changed. A set with errors is never used:
the line keeps the last good version and logs the errors.

Trade-off: versions live in each worker's memory (the last KEEP_VERSIONS). A request naming
a version this worker does not know (another worker loaded it first, or it is older than
KEEP_VERSIONS edits, or the worker restarted) first re-reads the files, which usually gives
that very version; if the files changed again since, the call goes on with the newest
version. Its position (menu, language) stays valid, so it continues, but may hear the newer
words from there on.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path

from .menus import load_script
from .script import Script
from .script_yaml import ScriptError

RECHECK_SECONDS = 1.0
KEEP_VERSIONS = 8
VERSION = re.compile(r"[0-9a-f]{8}")


class ScriptStore:
    def __init__(self, menus_dir: Path | str, logger: logging.Logger):
        self.menus_dir = Path(menus_dir)
        self.logger = logger
        self._versions: OrderedDict[str, Script] = OrderedDict()
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._stamp = self._files_stamp()
        self._refused_stamp = None
        # Why the files on disk are not what the line speaks (None when they are): for /healthz
        # and the preview page's banner.
        self.rejected: str | None = None
        # At start-up there is no last good version to keep: errors stop the app.
        self.current = self._load()

    def get(self, version: str | None) -> tuple[str, Script]:
        """The version a call's URL names if known here, else the newest good one."""
        if version in self._versions:
            return version, self._versions[version]
        # A new call, or a version another worker loaded first: look at the files (now, for
        # a version; garbage in the URL waits like a new call).
        self.refresh(force=VERSION.fullmatch(version or "") is not None)
        if version in self._versions:
            return version, self._versions[version]
        return self.current, self._versions[self.current]

    def newest(self) -> Script:
        """What a new call would hear (for staff commands; webhooks use views.script())."""
        return self.get(None)[1]

    def refresh(self, force: bool = False) -> None:
        """Load the files again if they changed; keep the current version if they have errors."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked_at < RECHECK_SECONDS:
                return
            self._checked_at = now
            stamp = self._files_stamp()
            if stamp == self._stamp:  # unchanged, or put back as they were
                self.rejected = None
                return
            if stamp == self._refused_stamp:
                return
            try:
                self.current = self._load()
            except Exception as exc:  # whatever is wrong with the files, the line keeps speaking
                # Logged once per change of the files, not once a second.
                self._refused_stamp = stamp
                self.rejected = exc.for_staff() if isinstance(exc, ScriptError) else str(exc)
                self.logger.error("scripts in %s not reloaded, still speaking version %s:\n%s",
                                  self.menus_dir, self.current, self.rejected,
                                  exc_info=not isinstance(exc, (ScriptError, OSError)))
                return
            self._stamp, self.rejected = stamp, None
            self.logger.info("scripts in %s reloaded: now version %s", self.menus_dir, self.current)

    def _files_stamp(self) -> tuple:
        """Name, size and modification time of every script file: cheap to compare."""
        try:
            with os.scandir(self.menus_dir) as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                                    for e in entries if e.name.endswith(".yaml")))
        except OSError as exc:  # folder gone or unreadable: a state like any other, logged once
            return (f"unreadable: {exc}",)

    def _contents_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.menus_dir.glob("*.yaml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:8]

    def _load(self) -> str:
        before = self._contents_hash()
        script = load_script(self.menus_dir)
        if self._contents_hash() != before:
            raise OSError("a script file changed while it was being read; trying again later")
        self._versions[before] = script
        self._versions.move_to_end(before)
        while len(self._versions) > KEEP_VERSIONS:
            self._versions.popitem(last=False)
        return before
