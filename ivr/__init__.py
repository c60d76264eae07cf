"""The Dallas Pain Relief Center's Kyphoplasty information line."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from .checks import utc_now
from .menus import DEFAULT_MENUS_DIR
from .script_store import ScriptStore

INSECURE_WARNING = (
    "IVR_DEV_INSECURE=1 and no TWILIO_AUTH_TOKEN: Twilio signatures are NOT checked. "
    "Anyone can drive this line. Never run like this in production."
)
PREVIEW_WARNING = (
    "The /preview page is on: anyone who can reach this server can walk the line with it (it has "
    "no login). Turn it on only on a laptop or a staging copy."
)
# The number `make run` and `make simulate` use, and that the docs show: it is no clinic's.
DEMO_CLINIC_NUMBER = "+12145550100"
NO_CLINIC_NUMBER_WARNING = (
    "CLINIC_PHONE_NUMBER is not set: key 0 cannot reach the clinic (callers hear that it is unavailable "
    "and may leave a voicemail). Set it to the clinic's number, like +12145550123 (see .env.example)."
)
DEMO_CLINIC_NUMBER_WARNING = (
    f"CLINIC_PHONE_NUMBER is the demo number {DEMO_CLINIC_NUMBER}: key 0 would transfer callers to a "
    "number that is not the clinic's. Set it to the clinic's number (see .env.example)."
)


class SettingsError(RuntimeError):
    """A setting the line cannot start with; the message says what to set (app.py prints it alone)."""


def last_good_dir(app: Flask) -> Path:
    """Where the last good scripts are kept: LAST_GOOD_SCRIPTS_DIR, else beside the call log."""
    if app.config["LAST_GOOD_SCRIPTS_DIR"]:
        return Path(app.config["LAST_GOOD_SCRIPTS_DIR"])
    url = make_url(app.config["DATABASE_URL"] or "sqlite://")
    # SQLite's URI form ("sqlite:///file:/path?mode=ro&uri=true") names the file after "file:".
    database = (url.database or "").removeprefix("file:")
    beside = Path(database).parent if url.get_backend_name() == "sqlite" and database else Path(app.instance_path)
    return beside / "scripts-last-good"


def create_app(config: dict | None = None) -> Flask:
    """Build the app from environment variables, overridden by ``config`` (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    # A doubled slash is never a URL this line gave Twilio: a clean 404, not a 308 redirect
    # that Twilio would have to follow (Werkzeug merges slashes by default). Set before any
    # blueprint adds its rules, which take the map's setting when they are bound.
    app.url_map.merge_slashes = False
    app.config.from_mapping(
        TWILIO_AUTH_TOKEN=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        CLINIC_PHONE_NUMBER=os.environ.get("CLINIC_PHONE_NUMBER", ""),
        PUBLIC_BASE_URL=os.environ.get("PUBLIC_BASE_URL", ""),
        AUDIO_DIR=os.environ.get("AUDIO_DIR", "audio"),
        AUDIO_BASE_URL=os.environ.get("AUDIO_BASE_URL", ""),
        IVR_DEV_INSECURE=os.environ.get("IVR_DEV_INSECURE") == "1",
        IVR_PREVIEW=os.environ.get("IVR_PREVIEW") == "1",
        MENUS_DIR=DEFAULT_MENUS_DIR,
        # The call log (ivr/calllog.py): instance/calls.sqlite3 unless DATABASE_URL names a database.
        DATABASE_URL=os.environ.get("DATABASE_URL", ""),
        CALLER_HASH_KEY=os.environ.get("CALLER_HASH_KEY", ""),
        # Keep the words of questions the line could not answer, so staff can add entries (off:
        # callers may say their name or their condition).
        QUESTION_LOG=os.environ.get("QUESTION_LOG") == "1",
        # Where the last version of the scripts that passed check is kept, so a restart with broken
        # files still speaks: beside the call log unless set (the SQLite file's folder, or instance/).
        LAST_GOOD_SCRIPTS_DIR=os.environ.get("LAST_GOOD_SCRIPTS_DIR", ""),
        # What time it is (tests freeze it).
        CLOCK=utc_now,
        # False for a staff command (flask report, build-audio ...; see app.py): it answers no calls,
        # so it needs no Twilio token, has no preview page and warns about neither.
        SERVES_CALLS=True,
    )
    app.config.update(config or {})
    # Flask shows only warnings unless told otherwise; the line's INFO lines (such as "scripts
    # reloaded: now version X") belong in the server's log too. The ivr.* loggers inherit this.
    if not app.debug:
        app.logger.setLevel(logging.INFO)

    serves_calls = app.config["SERVES_CALLS"]
    dev_mode = not app.config["TWILIO_AUTH_TOKEN"]
    if serves_calls and dev_mode:
        if not app.config["IVR_DEV_INSECURE"]:
            raise SettingsError(
                "TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked. "
                "Set it (see .env.example), or set IVR_DEV_INSECURE=1 for local development only."
            )
        app.logger.warning(INSECURE_WARNING)
    # Dev mode uses the demo number on purpose (make run); a server with a token must not.
    if serves_calls and not dev_mode:
        if not app.config["CLINIC_PHONE_NUMBER"]:
            app.logger.warning(NO_CLINIC_NUMBER_WARNING)
        elif app.config["CLINIC_PHONE_NUMBER"] == DEMO_CLINIC_NUMBER:
            app.logger.warning(DEMO_CLINIC_NUMBER_WARNING)

    # Invalid scripts stop start-up here, with file:line messages, instead of breaking calls, unless
    # a last good version is kept on disk: the line then starts on it, and says so loudly. Later
    # edits are picked up by the store, only if they are valid (views.script()). A staff command
    # (simulate, report ...) never falls back: it shows the files as they are.
    app.extensions["ivr.scripts"] = ScriptStore(app.config["MENUS_DIR"], app.logger,
                                                last_good_dir(app) if serves_calls else None)

    from . import audio, callbacks, calllog, guard, language_memory, ops, text_messages, views, voicemail_email

    # Huge, chunked or multipart bodies are refused before any of the app's work (ivr/guard.py).
    app.wsgi_app = guard.RequestLimits(app.wsgi_app)

    app.register_blueprint(views.bp)
    app.register_blueprint(audio.bp)
    app.register_blueprint(calllog.bp)
    app.register_blueprint(language_memory.bp)
    # Voicemails e-mailed to the clinic through its SMTP server, if set.
    voicemail_email.init_app(app)
    # Key 5: the summary by text message (Twilio), a call back (e-mailed as voicemails are), if set.
    text_messages.init_app(app)
    callbacks.init_app(app)
    app.register_blueprint(ops.bp)
    # Dev mode with a real token set is a staging copy: the preview stays off unless asked for.
    if serves_calls and (app.config["IVR_PREVIEW"] or dev_mode):
        from . import preview

        app.logger.warning(PREVIEW_WARNING)
        app.register_blueprint(preview.bp)
    return app
