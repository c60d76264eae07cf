"""Fixtures: the app, and a phone call driven with requests signed exactly as Twilio signs them."""
from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from sqlalchemy import MetaData, create_engine
from twilio.request_validator import RequestValidator

import ivr
from ivr import calllog, checks, create_app, schema, script_store
from ivr.menus import check_scripts, load_script
from ivr.script_yaml import ScriptError

# make test (and CI): the same examples on every run, nothing saved between runs, so a red run
# is a regression, not bad luck. make fuzz: a long random search, run by hand.
settings.register_profile("ci", derandomize=True, database=None, max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    """make test-clock: the whole run as if it started at IVR_TEST_CLOCK (UTC, "2026-12-24T16:00"),
    the clock moving on from there, so a test that reads the real time shows itself."""
    if when := os.environ.get("IVR_TEST_CLOCK"):
        config.ivr_clock = time_machine.travel(datetime.fromisoformat(when).replace(tzinfo=UTC), tick=True)
        config.ivr_clock.start()


def pytest_unconfigure(config):
    if hasattr(config, "ivr_clock"):
        config.ivr_clock.stop()

AUTH_TOKEN = "test-auth-token"
PUBLIC_BASE_URL = "https://ivr.example.org"
CLINIC_NUMBER = "+12145550100"
CALL_SID = "CA" + "0" * 32
CALLER = "+12145559876"
CHICAGO = ZoneInfo("America/Chicago")
# Code tests run on this copy of the scripts, so staff edits to ivr/menus/ never fail them
# (make check is the gate for content). Change it along with code that needs new script fields.
FIXTURE_MENUS = Path(__file__).parent / "fixtures" / "menus"
# At least 32 characters, as start-up demands.
CALLER_HASH_KEY = "test-caller-hash-key-0123456789abcdef"
# A Monday morning: the clinic is open (tests/fixtures/menus/clinic.yaml).
OPEN_HOURS = datetime(2026, 11, 2, 10, 0, tzinfo=CHICAGO)


@pytest.fixture(autouse=True)
def frozen_line_clock(monkeypatch):
    """The line's clock (ivr.utc_now: the app's default CLOCK; checks.utc_now: check's holiday notice),
    frozen in every test, so no result depends on when the suite runs (make test-clock runs it at
    other times). A test that needs another moment sets CLOCK, or patches these itself."""
    monkeypatch.setattr(ivr, "utc_now", lambda: OPEN_HOURS)
    monkeypatch.setattr(checks, "utc_now", lambda: OPEN_HOURS)


@pytest.fixture
def config(tmp_path):
    return {
        "TESTING": True,
        # An empty audio folder: every prompt is said, whatever was built in audio/.
        "AUDIO_DIR": str(tmp_path / "audio"),
        "MENUS_DIR": str(FIXTURE_MENUS),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "CLINIC_PHONE_NUMBER": CLINIC_NUMBER,
        "CLOCK": lambda: OPEN_HOURS,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'calls.sqlite3'}",
        "CALLER_HASH_KEY": CALLER_HASH_KEY,
    }


def drop_everything(engine):
    """An empty database, as if new: every table, the migrations' version included."""
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    schema.forget_upgrades()


@pytest.fixture
def database_url(tmp_path):
    """SQLite in the test's folder, or under `make test-postgres` an emptied PostgreSQL."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'calls.sqlite3'}"
    # A real PostgreSQL: start each test from an empty log.
    engine = create_engine(calllog.with_driver(url))
    drop_everything(engine)
    engine.dispose()
    return url




@pytest.fixture(autouse=True, scope="session")
def _each_script_loaded_once():
    """Loading and checking a set of scripts costs about 0.3 s of CPU, and most tests start an app
    on the same fixture copy: each distinct set of files (by name and bytes) is loaded once per
    test process. A Script is frozen and built only from those bytes; a set with errors is never
    kept, so every test of a refusal still loads it."""
    loaded = {}

    def check_once(menus_dir):
        files = tuple((path.name, path.read_bytes()) for path in sorted(Path(menus_dir).glob("*.yaml")))
        if files in loaded:
            return loaded[files]
        script, problems = check_scripts(menus_dir)
        if script is not None:
            loaded[files] = script, problems
        return script, problems

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(script_store, "check_scripts", check_once)
        yield


@pytest.fixture(autouse=True)
def _call_logs_end_with_their_test():
    # One writer thread per process serves every app's log: an ended test's are not the next one's.
    yield
    calllog.forget()


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def signed_post(client, path: str, params: dict | None = None, token: str = AUTH_TOKEN):
    """POST as Twilio does: form parameters, X-Twilio-Signature over the public URL."""
    params = {"CallSid": CALL_SID, "From": CALLER, **(params or {})}
    signature = sign(PUBLIC_BASE_URL + path, params, token)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@dataclass
class Heard:
    """One TwiML answer, read the way Twilio would act on it."""

    root: ET.Element
    said: list[tuple[str, str]] = field(default_factory=list)  # (language, text)

    @classmethod
    def parse(cls, body: bytes) -> "Heard":
        root = ET.fromstring(body)
        assert root.tag == "Response"
        said = [(say.get("language"), " ".join(" ".join(say.itertext()).split())) for say in root.iter("Say")]
        return cls(root, said)

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.said)

    @property
    def languages(self) -> set[str]:
        return {lang for lang, _ in self.said}

    @property
    def verbs(self) -> list[str]:
        return [child.tag for child in self.root]

    def first(self, tag: str) -> ET.Element | None:
        return next(self.root.iter(tag), None)

    @property
    def gather(self) -> ET.Element | None:
        return self.first("Gather")


class Call:
    """A caller on the line: answer, press keys, speak, stay silent."""

    def __init__(self, client):
        self.client = client
        self.heard: Heard | None = None

    def post(self, path: str, params: dict | None = None) -> Heard:
        response = signed_post(self.client, path, params)
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        self.heard = Heard.parse(response.data)
        return self.heard

    def answer(self) -> Heard:
        return self.post("/voice")

    def press(self, digits: str) -> Heard:
        return self.post(self.heard.gather.get("action"), {"Digits": digits})

    def say(self, words: str) -> Heard:
        return self.post(self.heard.gather.get("action"), {"SpeechResult": words, "Confidence": "0.9"})

    def wait_silently(self) -> Heard:
        """The Gather timed out: Twilio goes on to the verb after it, a Redirect."""
        redirect = self.heard.first("Redirect")
        assert redirect is not None, "nothing follows the menu: the caller would be left in silence"
        return self.post(redirect.text)

    def follow(self, tag: str, params: dict | None = None) -> Heard:
        """Twilio requests the ``action`` of ``tag`` (Dial, Record) when it ends."""
        return self.post(self.heard.first(tag).get("action"), params)


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def call(client):
    return Call(client)


# -- editing a copy of the fixture scripts, as staff would ------------------------------------


@pytest.fixture
def menus_copy(tmp_path):
    target = tmp_path / "menus"
    shutil.copytree(FIXTURE_MENUS, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` with ``new`` in ``path``; the line where it was."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def script_errors(menus_dir) -> str:
    """What loading ``menus_dir`` refuses, as staff read it."""
    with pytest.raises(ScriptError) as caught:
        load_script(menus_dir)
    return str(caught.value)
