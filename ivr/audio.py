"""Recorded prompts: made with gTTS by a staff command, found for a call, served to Twilio.

``flask --app app build-audio`` (``make audio``) records every prompt in both languages as
``AUDIO_DIR/<hash of the bytes>.mp3`` and lists them in ``AUDIO_DIR/manifest.json``, each
with a hash of the exact words, voice and gTTS version it was made from. A call plays a
recording only when that hash matches the prompt's current words and the file is intact;
otherwise the line says the words with Twilio's voice, so a missing, out-of-date or damaged
recording never makes a caller hear the wrong words, or nothing.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import gtts
from flask import Blueprint, abort, current_app, send_file, url_for
from mutagen import MutagenError
from mutagen.mp3 import MP3

from .script import LANGUAGE_NAMES, LANGUAGES, SLOW_SUFFIX, Script

bp = Blueprint("audio", __name__, cli_group=None)

# gTTS language and Google domain (the accent): American English, Mexican Spanish.
# Normal speed, except for the slow version of each summary ("summary.<topic>.slow", for a
# caller who asks to hear it again more slowly): gTTS's slow=True, recorded like any prompt.
GTTS_VOICES = {"en": ("en", "us"), "es": ("es", "com.mx")}
ENGINE = f"gTTS {gtts.__version__}"
MANIFEST = "manifest.json"
FILE_NAME = re.compile(r"[0-9a-f]{32}\.mp3")
# Google answers 429 when asked too often and 5xx when busy: wait longer each time.
RETRY_DELAYS = (2, 4, 8, 16)
REQUEST_TIMEOUT = 30
# A file's name is the hash of its bytes, so a URL always means the same sound.
ONE_YEAR = 31_536_000
LONGEST_SHOWN = 3


@dataclass(frozen=True)
class Recording:
    """One prompt in one language, as the manifest lists it."""

    file: str  # "<first 32 hex digits of the bytes' sha256>.mp3"
    source_hash: str  # of the words, voice and engine it was made from
    engine: str
    seconds: float
    size: int


class ManifestError(Exception):
    """manifest.json is not what build-audio writes."""


def is_slow(prompt_id: str) -> bool:
    return prompt_id.endswith(SLOW_SUFFIX)


def source_hash(text: str, lang: str, engine: str = ENGINE, slow: bool = False) -> str:
    gtts_lang, tld = GTTS_VOICES[lang]
    # The speed is part of the source only when slow, so normal recordings keep their hashes.
    source = json.dumps([text, gtts_lang, tld, engine, *(["slow"] if slow else [])], ensure_ascii=False)
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def file_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32] + ".mp3"


def read_manifest(folder: Path) -> dict[tuple[str, str], Recording]:
    """(prompt id, language) → Recording; empty when nothing was built yet."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        recordings = {(prompt_id, lang): Recording(**entry)
                      for prompt_id, by_lang in data["recordings"].items()
                      for lang, entry in by_lang.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{folder / MANIFEST} cannot be read ({exc!r})") from None
    for (prompt_id, lang), recording in recordings.items():
        # Only names build-audio makes, so the manifest can never point outside the folder.
        if lang not in LANGUAGES or not FILE_NAME.fullmatch(str(recording.file)):
            raise ManifestError(f"{folder / MANIFEST}: {prompt_id} ({lang}) has a bad entry")
    return recordings


def write_manifest(folder: Path, recordings: dict[tuple[str, str], Recording]) -> None:
    nested: dict[str, dict] = {}
    for (prompt_id, lang), recording in sorted(recordings.items()):
        nested.setdefault(prompt_id, {})[lang] = asdict(recording)
    text = json.dumps({"recordings": nested}, indent=2, ensure_ascii=False) + "\n"
    write_atomically(folder / MANIFEST, text.encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never half of it."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", suffix=".tmp", delete=False) as tmp:
        try:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
            # The web server may run as another user; recordings are public anyway.
            os.chmod(tmp.name, 0o644)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)


def is_intact(folder: Path, recording: Recording) -> bool:
    """The file holds exactly the bytes that were checked when it was recorded."""
    try:
        data = (folder / recording.file).read_bytes()
    except OSError:
        return False
    return len(data) == recording.size and file_name(data) == recording.file


# -- finding a recording during a call ----------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    stamp: tuple | None
    by_prompt: dict[tuple[str, str], Recording]
    by_file: dict[str, Recording]


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class Library:
    """One audio folder's manifest, read once and again only when the file changes.

    On the hot path a prompt costs a dictionary look-up, one hash of its words and one
    stat of its file; each file's bytes are hashed once, and again only if it changed.
    """

    def __init__(self, folder: Path, logger):
        self.folder = folder
        self.logger = logger
        self._manifest = folder / MANIFEST  # stat-ed on every webhook
        self._snapshot = _Snapshot(None, {}, {})
        self._checked: dict[str, tuple[tuple, bool]] = {}

    def _current(self) -> _Snapshot:
        stamp = _stamp(self._manifest)
        if stamp != self._snapshot.stamp:
            try:
                by_prompt = read_manifest(self.folder) if stamp else {}
            except ManifestError as exc:
                self.logger.error("%s: callers hear Twilio's voice instead of recordings", exc)
                by_prompt = {}
            by_file = {recording.file: recording for recording in by_prompt.values()}
            # One assignment, so a concurrent request sees the old manifest or the new one.
            self._snapshot = _Snapshot(stamp, by_prompt, by_file)
        return self._snapshot

    def stamp(self) -> tuple | None:
        """Changes whenever the manifest does (a build, a prune)."""
        return self._current().stamp

    def fresh(self, prompt_id: str, lang: str, text: str) -> Recording | None:
        """The recording of exactly ``text``, if there is an intact one."""
        recording = self._current().by_prompt.get((prompt_id, lang))
        if recording and recording.source_hash == source_hash(text, lang, recording.engine, is_slow(prompt_id)) \
                and self._intact(recording):
            return recording
        return None

    def listed(self, file: str) -> Path | None:
        """The path of ``file`` if the manifest lists it and it is intact."""
        recording = self._current().by_file.get(file)
        return self.folder / file if recording and self._intact(recording) else None

    def _intact(self, recording: Recording) -> bool:
        stamp = _stamp(self.folder / recording.file)
        if stamp is None:
            return False
        checked = self._checked.get(recording.file)
        if checked and checked[0] == stamp:
            return checked[1]
        intact = is_intact(self.folder, recording)
        if not intact:
            self.logger.error("%s is damaged: callers hear Twilio's voice instead (run make audio)",
                              self.folder / recording.file)
        self._checked[recording.file] = (stamp, intact)
        return intact


@bp.record_once
def _open_library(state) -> None:
    folder = Path(state.app.config["AUDIO_DIR"]).resolve()
    state.app.extensions["ivr.audio"] = Library(folder, state.app.logger)


def library() -> Library:
    return current_app.extensions["ivr.audio"]


def recording_url(prompt_id: str, lang: str, text: str) -> str | None:
    """Where Twilio fetches the recording of ``text``; None when the words must be said."""
    recording = library().fresh(prompt_id, lang, text)
    if recording is None:
        return None
    if cdn := current_app.config["AUDIO_BASE_URL"]:
        return f"{cdn.rstrip('/')}/{recording.file}"
    name = recording.file.removesuffix(".mp3")
    if public := current_app.config["PUBLIC_BASE_URL"]:
        # The address Twilio uses, as for signatures: the app may sit behind a proxy.
        return public.rstrip("/") + url_for("audio.recording", name=name)
    return url_for("audio.recording", name=name, _external=True)


@bp.get("/audio/<name>.mp3")
def recording(name):
    # No Twilio signature check: Twilio fetches <Play> audio with a plain, unsigned GET
    # (and so does a CDN filling its cache). Nothing private is here: only recordings of
    # the public scripts, and only files the manifest lists, so no path reaches elsewhere.
    path = library().listed(f"{name}.mp3")
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/mpeg", etag=name, conditional=True, max_age=ONE_YEAR)
    response.cache_control.immutable = True
    return response


# -- building the recordings (staff command, needs internet) ------------------------


class RecordingFailed(Exception):
    pass


def _busy(error: gtts.gTTSError) -> bool:
    return error.rsp is not None and (error.rsp.status_code == 429 or error.rsp.status_code >= 500)


def _reason(error: gtts.gTTSError, tries: int) -> str:
    if error.rsp is None:
        return f"cannot reach Google's speech service at translate.google.{error.tts.tld} (is this computer online?)"
    answer = f"Google's speech service answered {error.rsp.status_code} {error.rsp.reason}"
    return f"{answer} {tries} times: try again later" if _busy(error) else f"{answer} ({error.msg})"


def synthesise(text: str, lang: str, sleep, slow: bool = False) -> list[bytes]:
    """The MP3 parts gTTS returns for ``text`` (one per sentence or phrase), retrying when busy."""
    gtts_lang, tld = GTTS_VOICES[lang]
    for tries, delay in enumerate((*RETRY_DELAYS, None), start=1):
        try:
            return list(gtts.gTTS(text, lang=gtts_lang, tld=tld, slow=slow, timeout=REQUEST_TIMEOUT).stream())
        except gtts.gTTSError as error:
            if delay is None or not _busy(error):
                raise RecordingFailed(_reason(error, tries)) from None
        except AssertionError:  # gTTS found no words left to speak
            raise RecordingFailed("gTTS found nothing to say in this text") from None
        sleep(delay)


def measure(part: bytes) -> float:
    """Seconds of MP3 audio in ``part``; RecordingFailed if it is not MP3 audio."""
    try:
        seconds = MP3(io.BytesIO(part)).info.length
    except MutagenError:
        seconds = 0
    if not seconds:
        raise RecordingFailed(f"Google's answer is not MP3 audio ({len(part)} bytes)")
    return seconds


def record(folder: Path, text: str, lang: str, sleep, slow: bool = False) -> Recording:
    """Record ``text``; the file appears, whole and checked, only when everything worked."""
    parts = synthesise(text, lang, sleep, slow)
    # Each part is a whole MP3 of its own, so measure each rather than trust the first header.
    seconds = sum(measure(part) for part in parts)
    data = b"".join(parts)
    name = file_name(data)
    write_atomically(folder / name, data)
    return Recording(file=name, source_hash=source_hash(text, lang, slow=slow), engine=ENGINE,
                     seconds=round(seconds, 1), size=len(data))


def _every_prompt(script: Script):
    for prompt_id in script.prompt_ids():
        for lang in LANGUAGES:
            yield prompt_id, lang, script.text(prompt_id, lang)


def _line(status: str, prompt_id: str, lang: str, detail: str = "") -> str:
    return f"{status:<10} {lang}  {prompt_id:<28} {detail}".rstrip()


def _spoken(seconds: float) -> str:
    return f"{seconds:.0f} s"


def _total(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def build(script: Script, folder: Path, *, force: bool = False, prune: bool = False,
          sleep=time.sleep, echo=click.echo) -> bool:
    """Record every prompt whose words changed (all with ``force``); False if one failed.

    The manifest is saved after each recording, so a failure or Ctrl-C loses nothing
    and it only ever lists whole, checked files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        recordings = read_manifest(folder)
    except ManifestError as exc:
        echo(f"{exc}: recording everything again", err=True)
        recordings = {}
    for prompt_id, lang, text in _every_prompt(script):
        old = recordings.get((prompt_id, lang))
        if not force and old and old.source_hash == source_hash(text, lang, slow=is_slow(prompt_id)) \
                and is_intact(folder, old):
            echo(_line("unchanged", prompt_id, lang, _spoken(old.seconds)))
            continue
        try:
            recordings[prompt_id, lang] = record(folder, text, lang, sleep, is_slow(prompt_id))
        except RecordingFailed as exc:
            echo(_line("failed", prompt_id, lang))
            echo(f"Stopped: could not record {prompt_id} ({lang}): {exc}. "
                 "Recordings made so far are kept; run the build again to finish.", err=True)
            return False
        write_manifest(folder, recordings)
        echo(_line("built", prompt_id, lang, _spoken(recordings[prompt_id, lang].seconds)))
    if prune:
        _prune(script, folder, recordings, echo)
    _summarise(recordings, echo)
    return True


def _prune(script: Script, folder: Path, recordings: dict, echo) -> None:
    """Forget prompts the scripts no longer have; delete files nothing lists.

    Replaced files stay until a prune, so a worker still reading the old manifest can
    serve them until it notices the new one.
    """
    current = {(prompt_id, lang) for prompt_id, lang, _ in _every_prompt(script)}
    for gone in sorted(set(recordings) - current):
        del recordings[gone]
        echo(_line("removed", *gone))
    write_manifest(folder, recordings)
    listed = {recording.file for recording in recordings.values()}
    for path in sorted([*folder.glob("*.mp3"), *folder.glob(".*.tmp")]):
        if path.name not in listed:
            path.unlink()
            echo(f"deleted    {path.name}")


def _summarise(recordings: dict, echo) -> None:
    for lang in LANGUAGES:
        mine = sorted(((r.seconds, prompt_id) for (prompt_id, each), r in recordings.items() if each == lang),
                      reverse=True)
        longest = ", ".join(f"{prompt_id} {_spoken(seconds)}" for seconds, prompt_id in mine[:LONGEST_SHOWN])
        echo(f"{LANGUAGE_NAMES[lang]}: {len(mine)} recordings, {_total(sum(s for s, _ in mine))} in all; "
             f"longest: {longest}")


def problems(script: Script, folder: Path) -> list[str]:
    """One line per prompt a caller would hear in Twilio's voice instead of a recording."""
    try:
        recordings = read_manifest(folder)
    except ManifestError as exc:
        return [str(exc)]
    lines = []
    for prompt_id, lang, text in _every_prompt(script):
        recording = recordings.get((prompt_id, lang))
        if recording is None:
            lines.append(_line("missing", prompt_id, lang))
        elif recording.source_hash != source_hash(text, lang, recording.engine, is_slow(prompt_id)):
            lines.append(_line("stale", prompt_id, lang, "the words changed since it was recorded"))
        elif not is_intact(folder, recording):
            lines.append(_line("damaged", prompt_id, lang, f"{recording.file} is missing or changed"))
    return lines


@bp.cli.command("build-audio")
@click.option("--force", is_flag=True, help="Record every prompt again, even unchanged ones.")
@click.option("--prune", is_flag=True, help="Delete recordings that no prompt uses any more.")
def build_audio_command(force: bool, prune: bool) -> None:
    """Record every prompt in both languages with gTTS (needs internet)."""
    ok = build(current_app.extensions["ivr.scripts"].newest(), library().folder, force=force, prune=prune)
    if not ok:
        raise SystemExit(1)


@bp.cli.command("audio-status")
def audio_status_command() -> None:
    """List prompts whose recording is missing or out of date; exit 1 if any is."""
    script = current_app.extensions["ivr.scripts"].newest()
    lines = problems(script, library().folder)
    for line in lines:
        click.echo(line)
    if lines:
        click.echo("Callers hear Twilio's voice instead of a recording for these: run make audio.", err=True)
        raise SystemExit(1)
    click.echo(f"All {len(script.prompt_ids()) * len(LANGUAGES)} recordings are up to date.")
