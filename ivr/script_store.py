"""The scripts the line speaks, reloaded safely when staff change the files on disk.

Each set of scripts that loaded without errors is a *version*, named by a short hash of
the files' contents, so every worker that reads the same files gives it the same name.
Every webhook URL of a call names its version (``?v=...``, added in views), so a caller
mid-call keeps hearing the version the call started with while new calls get the newest.

A new call (a request naming no version) looks at the files at most once a second: one
``stat`` per file, no reading unless something changed. A set with errors is never used:
the line keeps the last good version and logs the errors.

Each version that loaded is also kept on disk (``last_good_dir``, beside the call log), so a
restart with broken files starts on the last good version instead of not at all (and says so
loudly); only a line that never had a good version refuses to start.

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
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from .menus import check_scripts
from .script import Script
from .script_yaml import Problem, ScriptError

RECHECK_SECONDS = 1.0
KEEP_VERSIONS = 8
VERSION = re.compile(r"[0-9a-f]{8}")
# In the folder of the last good version (``last_good_dir``): the name of the version kept, and
# the version's files in a folder of that name.
KEPT_NAME = "version"

# The states of the scripts, for /healthz and the preview page.
OK, LAST_GOOD_KEPT, STARTED_ON_LAST_GOOD = "ok", "last good kept", "started on last good"


def read_sources(folder: Path) -> dict[str, str]:
    """The text of each script file in ``folder``, by file name (unreadable bytes replaced)."""
    return {path.name: path.read_bytes().decode("utf-8", "replace") for path in sorted(folder.glob("*.yaml"))}


class ScriptStore:
    def __init__(self, menus_dir: Path | str, logger: logging.Logger, last_good_dir: Path | str | None = None):
        """``last_good_dir``: where the last version that passed check is kept on disk, so a restart
        with broken files still speaks (None: not kept, and broken files stop start-up)."""
        self.menus_dir = Path(menus_dir)
        self.logger = logger
        self.last_good_dir = Path(last_good_dir) if last_good_dir else None
        self._versions: OrderedDict[str, Script] = OrderedDict()
        # Of each version kept in memory: its files' text (what the preview shows as changed) and
        # check's warnings (which the preview shows too).
        self.sources: dict[str, dict[str, str]] = {}
        self.warnings: dict[str, list[Problem]] = {}
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._stamp = self._files_stamp()
        self._refused_stamp = None
        # Why the files on disk are not what the line speaks (None when they are): for /healthz
        # and the preview page's banner.
        self.rejected: str | None = None
        self.state = OK
        try:
            self.current = self._load()
        except (ScriptError, OSError) as exc:
            # Start on the last good version kept on disk; with none ever kept, errors stop the app.
            kept = self._kept_folder()
            if kept is None:
                raise
            try:
                self.current = self._load(kept)
            except (ScriptError, OSError):
                raise exc from None  # the files' errors are the ones to fix
            self.rejected = exc.for_staff() if isinstance(exc, ScriptError) else str(exc)
            self.state = STARTED_ON_LAST_GOOD
            self._refused_stamp, self._stamp = self._stamp, None
            self.logger.error(
                "THE SCRIPTS IN %s HAVE ERRORS. The line started on the last version that passed check, version "
                "%s, kept in %s: callers hear it, not the files, until the errors are fixed (make check shows "
                "them):\n%s", self.menus_dir, self.current, kept, self.rejected)
        else:
            self._keep()

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
                self.rejected, self.state = None, OK
                return
            if stamp == self._refused_stamp:
                return
            try:
                self.current = self._load()
            except Exception as exc:  # whatever is wrong with the files, the line keeps speaking
                # Logged once per change of the files, not once a second.
                self._refused_stamp = stamp
                self.rejected = exc.for_staff() if isinstance(exc, ScriptError) else str(exc)
                if self.state == OK:
                    self.state = LAST_GOOD_KEPT
                self.logger.error("scripts in %s not reloaded, still speaking version %s:\n%s",
                                  self.menus_dir, self.current, self.rejected,
                                  exc_info=not isinstance(exc, (ScriptError, OSError)))
                return
            self._stamp, self.rejected, self.state = stamp, None, OK
            self.logger.info("scripts in %s reloaded: now version %s", self.menus_dir, self.current)
        self._keep()

    def _files_stamp(self) -> tuple:
        """Name, size and modification time of every script file: cheap to compare."""
        try:
            with os.scandir(self.menus_dir) as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                                    for e in entries if e.name.endswith(".yaml")))
        except OSError as exc:  # folder gone or unreadable: a state like any other, logged once
            return (f"unreadable: {exc}",)

    def _contents_hash(self, folder: Path | None = None) -> str:
        digest = hashlib.sha256()
        for path in sorted((folder or self.menus_dir).glob("*.yaml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:8]

    def _load(self, folder: Path | None = None) -> str:
        folder = folder or self.menus_dir
        before = self._contents_hash(folder)
        sources = read_sources(folder)
        script, problems = check_scripts(folder)
        if script is None:
            raise ScriptError([p for p in problems if not p.warning])
        if self._contents_hash(folder) != before:
            raise OSError("a script file changed while it was being read; trying again later")
        self._versions[before] = script
        self._versions.move_to_end(before)
        self.sources[before], self.warnings[before] = sources, problems
        while len(self._versions) > KEEP_VERSIONS:
            gone, _ = self._versions.popitem(last=False)
            self.sources.pop(gone, None)
            self.warnings.pop(gone, None)
        return before

    def previous(self) -> str | None:
        """The good version before the current one, if this process loaded one."""
        versions = [v for v in self._versions if v != self.current]
        return versions[-1] if versions else None

    # -- the last good version, on disk ----------------------------------------------

    def _kept_folder(self) -> Path | None:
        """The folder of the last good version kept on disk, if there is one."""
        if self.last_good_dir is None:
            return None
        try:
            version = (self.last_good_dir / KEPT_NAME).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        folder = self.last_good_dir / version
        return folder if VERSION.fullmatch(version) and folder.is_dir() else None

    def _keep(self) -> None:
        """Keep the files of the current version on disk, unless they are the ones kept already.

        Written beside, then named in one rename, so a worker starting meanwhile (or a crash) never
        finds half a version; several workers keeping the same version write the same bytes."""
        if self.last_good_dir is None or self.state != OK:
            return
        version, kept = self.current, self._kept_folder()
        if kept is not None and kept.name == version:
            return
        try:
            # Folders made here are private, as the call log's beside it are (ivr/schema.py).
            for missing in reversed([f for f in [self.last_good_dir, *self.last_good_dir.parents] if not f.exists()]):
                missing.mkdir(mode=0o700, exist_ok=True)
                missing.chmod(0o700)
            folder = self.last_good_dir / version
            if not folder.is_dir():
                making = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.last_good_dir))
                for path in self.menus_dir.glob("*.yaml"):
                    shutil.copy2(path, making / path.name)
                if self._contents_hash(making) != version:  # the files changed since they were checked
                    shutil.rmtree(making, ignore_errors=True)
                    return
                try:
                    making.rename(folder)
                except OSError:  # another worker named it first
                    shutil.rmtree(making, ignore_errors=True)
            name = self.last_good_dir / f".{KEPT_NAME}-{os.getpid()}"
            name.write_text(version + "\n", encoding="utf-8")
            os.replace(name, self.last_good_dir / KEPT_NAME)
            for old in self.last_good_dir.iterdir():
                if old.is_dir() and old.name != version and VERSION.fullmatch(old.name):
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            self.logger.warning("the last good scripts could not be kept in %s (%s): a restart with broken "
                                "files would not start", self.last_good_dir, exc)
