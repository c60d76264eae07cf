"""Recorded prompts: the gTTS build (Google mocked), the audio route, and what callers hear."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from gtts import gTTS

from conftest import AUTH_TOKEN, FIXTURE_MENUS, PUBLIC_BASE_URL, Call
from ivr import audio, create_app
from ivr.script import LANGUAGES

GOOGLE = {"en": "https://translate.google.us/_/TranslateWebserverUi/data/batchexecute",
          "es": "https://translate.google.com.mx/_/TranslateWebserverUi/data/batchexecute"}
# MPEG-2 Layer III, 32 kbit/s, 24 kHz, mono, as Google sends: 96-byte frames of 24 ms.
FRAME_HEADER = bytes([0xFF, 0xF3, 0x44, 0xC4])
FRAME_SECONDS = 0.024
RECOVERY_EN = "Here is what to expect after kyphoplasty"
TOPICS = {"1": "procedure", "2": "recovery", "3": "risks", "4": "candidates"}


def mp3(frames: int, mark: bytes = b"") -> bytes:
    """A small real MP3; ``mark`` in each frame's body makes different words different files."""
    return (FRAME_HEADER + mark[:92].ljust(92, b"\0")) * frames


def asked(request) -> tuple[str, str, bool]:
    """The words, language and slowness of one request gTTS sent (its form, decoded)."""
    rpc = json.loads(parse_qs(request.body)["f.req"][0])
    words, lang, slow, _ = json.loads(rpc[0][0][1])
    return words, lang, bool(slow)


def answer(audio_bytes: bytes) -> str:
    """Google's batchexecute answer around base64 audio, as gTTS parses it."""
    payload = json.dumps([base64.b64encode(audio_bytes).decode()])
    rpc = json.dumps([["wrb.fr", "jQ1olc", payload, None, None, None, "generic"]], separators=(",", ":"))
    return f")]}}'\n\n{len(rpc)}\n{rpc}\n"


def frames_for(words: str) -> int:
    # Roughly speaking time: about 14 characters a second, 24 ms a frame.
    return max(2, round(len(words) / 14 / FRAME_SECONDS))


class Google:
    """Google's speech service, offline: every request answers with MP3 for its words."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.fail = lambda words, lang: None  # or a status code / exception for this request
        for url in GOOGLE.values():
            mock.add_callback(responses.POST, url, callback=self._answer)

    def _answer(self, request):
        words, lang, slow = asked(request)
        failure = self.fail(words, lang)
        if isinstance(failure, Exception):
            raise failure
        if failure:
            return failure, {}, "busy"
        mark = hashlib.sha256(f"{lang}:{slow}:{words}".encode()).digest()
        return 200, {}, answer(mp3(frames_for(words) * (2 if slow else 1), mark))

    @property
    def calls(self) -> int:
        return len(self.mock.calls)

    def reset(self) -> None:
        self.mock.calls.reset()


def bodies(text: str, lang: str, slow: bool = False) -> list[str]:
    """The requests gTTS makes for exactly ``text`` in ``lang`` (slowly: the slow summaries)."""
    gtts_lang, tld = audio.GTTS_VOICES[lang]
    return gTTS(text, lang=gtts_lang, tld=tld, slow=slow).get_bodies()


@pytest.fixture
def google():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Google(mock)


@dataclass
class FirstBuild:
    """One full build of the fixture scripts, Google offline: what it printed and sent, and its folder."""

    folder: Path
    output: str
    exit_code: int
    sent: dict[str, list[str]]  # language -> the bodies gTTS posted

    @property
    def calls(self) -> int:
        return sum(len(bodies) for bodies in self.sent.values())

    def copy_to(self, folder: Path) -> None:
        """The recordings in ``folder``, as if just built there (by another process, as staff would)."""
        shutil.copytree(self.folder, folder)


@pytest.fixture(scope="session")
def first_build(tmp_path_factory) -> FirstBuild:
    # A full build is a few seconds of CPU (hundreds of mocked requests and manifest writes): made
    # once, read by the tests of what a build does, copied by the tests that need recordings.
    root = tmp_path_factory.mktemp("first-build")
    app = create_app({"TESTING": True, "AUDIO_DIR": str(root / "audio"), "MENUS_DIR": str(FIXTURE_MENUS),
                      "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                      "DATABASE_URL": f"sqlite:///{root / 'calls.sqlite3'}"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        google = Google(mock)
        result = run(app, "build-audio")
        sent = {lang: [call.request.body for call in google.mock.calls if call.request.url == url]
                for lang, url in GOOGLE.items()}
    return FirstBuild(root / "audio", result.output, result.exit_code, sent)


@pytest.fixture
def menus(tmp_path):
    """A copy of the scripts that a test may edit, as staff would."""
    folder = tmp_path / "menus"
    shutil.copytree(FIXTURE_MENUS, folder)
    return folder


@pytest.fixture
def config(config, menus):
    config["MENUS_DIR"] = menus
    config["CALLER_HASH_KEY"] = ""  # no language memory: every call starts with the language menu
    return config


@pytest.fixture
def folder(config) -> Path:
    return Path(config["AUDIO_DIR"])


def edit(menus: Path, old: str, new: str) -> None:
    path = menus / "summaries.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def build(config, *args):
    """Build with a fresh app, as staff would in another process."""
    return run(create_app(config), "build-audio", *args)


def manifest(folder: Path) -> dict:
    return audio.read_manifest(folder)


def played(body: bytes) -> list[str]:
    return [play.text for play in ET.fromstring(body).iter("Play")]


def recording_of(url: str, folder: Path) -> tuple[str, str]:
    """Which prompt and language a Play URL is the recording of."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return next(key for key, recording in manifest(folder).items() if recording.file == name)


# -- building ------------------------------------------------------------------------


def test_full_build_records_exactly_each_prompts_words_in_its_voice(app, first_build):
    result, folder = first_build, first_build.folder
    assert result.exit_code == 0, result.output

    script = app.extensions["ivr.scripts"].newest()
    expected = {(p, lang): script.text(p, lang) for p in script.prompt_ids() for lang in LANGUAGES}
    recordings = manifest(folder)
    assert set(recordings) == set(expected)
    # gTTS was asked for exactly each prompt's words, in its language, at its accent's domain.
    for lang in LANGUAGES:
        wanted = [body for (p, each), text in expected.items() if each == lang
                  for body in bodies(text, each, audio.is_slow(p))]
        assert sorted(result.sent[lang]) == sorted(wanted)
    for (prompt_id, lang), recording in recordings.items():
        data = (folder / recording.file).read_bytes()
        assert audio.file_name(data) == recording.file and len(data) == recording.size
        assert recording.source_hash == audio.source_hash(expected[prompt_id, lang], lang,
                                                          slow=audio.is_slow(prompt_id))
        assert recording.seconds > 0
    assert result.output.count("built") == len(expected)
    assert "English: " in result.output and "Spanish: " in result.output
    assert not list(folder.glob(".*.tmp"))


def test_summary_shows_each_languages_total_and_longest_prompts(first_build):
    recordings = manifest(first_build.folder)
    longest = max((r.seconds, p) for (p, lang), r in recordings.items() if lang == "es")
    summary = next(line for line in first_build.output.splitlines() if line.startswith("Spanish: "))
    assert f"{len(recordings) // 2} recordings" in summary
    assert f"longest: {longest[1]} " in summary
    recovery = recordings["summary.recovery", "en"]
    assert any(line.startswith("built") and "summary.recovery" in line and audio._spoken(recovery.seconds) in line
               for line in first_build.output.splitlines() if " en " in line)


def test_unchanged_prompts_are_not_recorded_again(app, google, first_build, folder):
    first_build.copy_to(folder)
    result = run(app, "build-audio")
    assert result.exit_code == 0
    assert google.calls == 0
    assert "built" not in result.output
    assert result.output.count("unchanged") == 2 * len(app.extensions["ivr.scripts"].newest().prompt_ids())


def test_one_edited_prompt_is_the_only_one_recorded_again(config, menus, google, first_build, folder):
    first_build.copy_to(folder)
    before = manifest(folder)
    edit(menus, RECOVERY_EN, "This is what to expect after kyphoplasty")
    google.reset()

    app = create_app(config)
    result = run(app, "build-audio")

    new_text = app.extensions["ivr.scripts"].newest().text("summary.recovery", "en")
    # The summary and its slow version: the same words, so both are recorded again.
    assert google.calls == len(bodies(new_text, "en")) + len(bodies(new_text, "en", slow=True))
    assert [line.split()[:3] for line in result.output.splitlines() if line.startswith("built")] == \
        [["built", "en", "summary.recovery"], ["built", "en", "summary.recovery.slow"]]
    after = manifest(folder)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {("summary.recovery", "en"), ("summary.recovery.slow", "en")}
    # The old recording stays until --prune (a worker may still be serving it).
    assert (folder / before["summary.recovery", "en"].file).exists()
    result = run(app, "build-audio", "--prune")
    assert google.calls == len(bodies(new_text, "en")) + len(bodies(new_text, "en", slow=True))
    assert f"deleted    {before['summary.recovery', 'en'].file}" in result.output
    assert sorted(p.name for p in folder.glob("*.mp3")) == sorted({r.file for r in after.values()})


def test_prune_forgets_prompts_the_scripts_no_longer_have(config, menus, google, first_build, folder):
    first_build.copy_to(folder)
    recordings = manifest(folder)
    recordings["summary.retired", "en"] = recordings["summary.risks", "en"]
    old = folder / audio.file_name(b"an old recording")
    old.write_bytes(b"an old recording")
    audio.write_manifest(folder, recordings)

    result = build(config, "--prune")

    assert "removed    en  summary.retired" in result.output
    assert ("summary.retired", "en") not in manifest(folder)
    assert not old.exists()
    assert (folder / recordings["summary.risks", "en"].file).exists()


def test_force_records_everything_again(app, google, first_build, folder):
    first_build.copy_to(folder)
    result = run(app, "build-audio", "--force")
    assert result.exit_code == 0
    assert google.calls == first_build.calls


def test_busy_google_is_asked_again_after_a_growing_wait(app, google, folder):
    failures = [429, 503, 500]
    google.fail = lambda words, lang: failures.pop(0) if failures else None
    waits = []

    ok = audio.build(app.extensions["ivr.scripts"].newest(), folder, sleep=waits.append, echo=lambda *a, **k: None)

    assert ok
    assert waits == [2, 4, 8]
    assert len(manifest(folder)) == 2 * len(app.extensions["ivr.scripts"].newest().prompt_ids())


def test_google_busy_for_good_stops_after_five_tries(app, google, folder):
    google.fail = lambda words, lang: 429
    waits, lines = [], []

    ok = audio.build(app.extensions["ivr.scripts"].newest(), folder, sleep=waits.append,
                     echo=lambda line, err=False: lines.append(line))

    assert not ok
    assert waits == list(audio.RETRY_DELAYS)
    assert google.calls == 5
    assert lines[-1].startswith("Stopped: could not record greeting (en): ")
    assert "429" in lines[-1] and "5 times" in lines[-1]
    assert manifest(folder) == {}


def _second_part_of_recovery_en(words, lang):
    # The connection drops in the middle of a prompt made of several requests.
    if lang == "en" and words.startswith("Avoid heavy lifting"):
        return requests.ConnectionError("network is unreachable")


def test_network_failure_names_the_prompt_and_keeps_only_whole_recordings(config, google, folder):
    google.fail = _second_part_of_recovery_en
    result = build(config)

    assert result.exit_code == 1
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Stopped: could not record summary.recovery (en): cannot reach Google")
    recordings = manifest(folder)
    assert ("summary.recovery", "en") not in recordings
    assert ("summary.procedure", "en") in recordings
    assert not list(folder.glob(".*.tmp"))
    # Every file is listed and whole: nothing half-recorded was kept.
    assert sorted(p.name for p in folder.glob("*.mp3")) == sorted({r.file for r in recordings.values()})
    assert all(audio.is_intact(folder, r) for r in recordings.values())

    # Back online: the next build finishes the job without redoing what was done.
    google.fail = lambda words, lang: None
    google.reset()
    result = build(config)
    assert result.exit_code == 0
    assert "failed" not in result.output
    assert result.output.count("built") == 2 * len(create_app(config).extensions["ivr.scripts"].newest().prompt_ids()) - len(recordings)


def test_an_answer_that_is_not_mp3_is_never_listed(app, google, folder):
    google.mock.replace(responses.POST, GOOGLE["en"], body=answer(b"<html>not audio</html>"))
    result = run(app, "build-audio")
    assert result.exit_code == 1
    assert "not MP3 audio" in result.output
    assert manifest(folder) == {}
    assert not list(folder.glob("*.mp3")) and not list(folder.glob(".*.tmp"))


def test_an_unreadable_manifest_means_recording_everything_again(app, google, folder):
    folder.mkdir()
    (folder / audio.MANIFEST).write_text("{not json")
    result = run(app, "build-audio")
    assert result.exit_code == 0
    assert "cannot be read" in result.output
    assert len(manifest(folder)) == 2 * len(app.extensions["ivr.scripts"].newest().prompt_ids())


# -- audio-status ----------------------------------------------------------------------


def test_status_lists_missing_stale_and_damaged_recordings(config, menus, google, first_build, folder):
    app = create_app(config)
    result = run(app, "audio-status")
    assert result.exit_code == 1
    assert result.output.count("missing") == 2 * len(app.extensions["ivr.scripts"].newest().prompt_ids())

    first_build.copy_to(folder)
    result = run(create_app(config), "audio-status")
    assert result.exit_code == 0
    assert "up to date" in result.output

    edit(menus, RECOVERY_EN, "This is what to expect after kyphoplasty")
    (folder / manifest(folder)["greeting", "es"].file).write_bytes(b"broken")
    result = run(create_app(config), "audio-status")
    assert result.exit_code == 1
    assert [line.split()[:3] for line in result.output.splitlines()[:-1]] == [
        ["damaged", "es", "greeting"], ["stale", "en", "summary.recovery"], ["stale", "en", "summary.recovery.slow"]]
    assert "run make audio" in result.output


# -- what callers hear -----------------------------------------------------------------


def choose_language(call, lang):
    call.answer()
    return call.press({"en": "1", "es": "2"}[lang])


def test_callers_hear_recordings_in_their_language_once_built(config, google, first_build, folder):
    first_build.copy_to(folder)
    call = Call(create_app(config).test_client())

    heard = call.answer()
    urls = played(ET.tostring(heard.root))
    assert heard.said == []
    assert [recording_of(url, folder) for url in urls] == [
        ("greeting", "en"), ("menu.language", "en"), ("menu.language", "es"), ("emergency", "en"), ("emergency", "es")]
    # The opening plays inside the Gather, so a caller can press during it.
    assert len(list(heard.gather.iter("Play"))) == 5
    assert all(url.startswith(PUBLIC_BASE_URL + "/audio/") for url in urls)

    for lang in LANGUAGES:
        heard = choose_language(call, lang)
        assert heard.said == []
        assert [recording_of(url, folder) for url in played(ET.tostring(heard.root))] == [
            ("notice", lang), ("emergency", lang), ("menu.topics", lang), ("question.invite", lang)]
        for key, topic in TOPICS.items():
            heard = call.press(key)
            assert heard.said == []
            assert [recording_of(url, folder) for url in played(ET.tostring(heard.root))] == [
                (f"summary.{topic}", lang), ("menu.after_summary", lang)]
            heard = call.press("8")
            assert [recording_of(url, folder) for url in played(ET.tostring(heard.root))] == [
                (f"summary.{topic}.slow", lang), ("menu.after_summary", lang)]
            call.press("*")


def test_a_spoken_question_plays_its_recorded_answer(config, google, first_build, folder):
    first_build.copy_to(folder)
    call = Call(create_app(config).test_client())
    call.answer()
    choose_language(call, "es")
    heard = call.say("¿Voy a estar dormida?")
    assert heard.said == []
    assert [recording_of(url, folder) for url in played(ET.tostring(heard.root))] == [
        ("answer.awake_or_asleep", "es"), ("question.after_answer", "es")]


def test_an_edited_prompt_is_said_until_it_is_recorded_again(config, menus, google, first_build, folder):
    first_build.copy_to(folder)
    edit(menus, RECOVERY_EN, "This is what to expect after kyphoplasty")
    call = Call(create_app(config).test_client())

    choose_language(call, "en")
    heard = call.press("2")
    assert heard.said and heard.said[0][1].startswith("This is what to expect after kyphoplasty")
    assert [recording_of(url, folder) for url in played(ET.tostring(heard.root))] == [("menu.after_summary", "en")]

    choose_language(call, "es")
    heard = call.press("2")
    assert heard.said == []
    assert recording_of(played(ET.tostring(heard.root))[0], folder) == ("summary.recovery", "es")


@pytest.mark.parametrize("harm", ["delete", "same size", "truncate"])
def test_a_damaged_recording_is_said_instead(config, google, first_build, folder, harm):
    first_build.copy_to(folder)
    app = create_app(config)
    call = Call(app.test_client())
    heard = call.answer()
    assert heard.said == []
    path = folder / manifest(folder)["emergency", "es"].file
    if harm == "delete":
        path.unlink()
    elif harm == "same size":
        path.write_bytes(bytes(path.stat().st_size))
    else:
        path.write_bytes(path.read_bytes()[:200])

    heard = call.answer()
    assert [lang for lang, _ in heard.said] == ["es-MX"]
    assert "9 1 1" in heard.text
    assert app.test_client().get(f"/audio/{path.stem}.mp3").status_code == 404


def test_an_unreadable_manifest_means_every_prompt_is_said(config, google, first_build, folder, caplog):
    first_build.copy_to(folder)
    (folder / audio.MANIFEST).write_text('{"recordings": {"greeting": {"en": {"file": "../../etc/passwd"}}}}')
    heard = Call(create_app(config).test_client()).answer()
    assert played(ET.tostring(heard.root)) == []
    assert "Dallas Pain Relief Center" in heard.text
    assert "cannot be read" in caplog.text


def test_a_running_line_picks_up_a_new_build_without_a_restart(config, google, first_build, folder):
    app = create_app(config)
    call = Call(app.test_client())
    assert played(ET.tostring(call.answer().root)) == []
    first_build.copy_to(folder)  # built by another process, as staff would
    assert len(played(ET.tostring(call.answer().root))) == 5


def test_each_recording_is_read_once_not_on_every_call(config, google, first_build, folder, monkeypatch):
    first_build.copy_to(folder)
    call = Call(create_app(config).test_client())
    choose_language(call, "en")
    reads = []
    monkeypatch.setattr(audio, "is_intact", lambda *args: reads.append(args) or True)
    choose_language(call, "en")
    assert reads == []


def test_audio_base_url_points_plays_at_a_cdn(config, google, first_build, folder):
    first_build.copy_to(folder)
    config["AUDIO_BASE_URL"] = "https://cdn.example.org/line/"
    heard = Call(create_app(config).test_client()).answer()
    urls = played(ET.tostring(heard.root))
    assert urls and all(url.startswith("https://cdn.example.org/line/") for url in urls)
    assert urls[0] == "https://cdn.example.org/line/" + manifest(folder)["greeting", "en"].file


# -- the audio route -------------------------------------------------------------------


def test_audio_is_served_unsigned_with_long_caching(config, google, first_build, folder):
    first_build.copy_to(folder)
    client = create_app(config).test_client()
    recording = manifest(folder)["summary.risks", "es"]
    name = recording.file.removesuffix(".mp3")

    response = client.get(f"/audio/{recording.file}")  # no X-Twilio-Signature, as Twilio fetches it
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.data == (folder / recording.file).read_bytes()
    cache = response.cache_control
    assert cache.public and cache.max_age == 31_536_000 and cache.immutable
    assert response.headers["ETag"] == f'"{name}"'

    again = client.get(f"/audio/{recording.file}", headers={"If-None-Match": f'"{name}"'})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", [
    "/audio/../manifest.json",
    "/audio/..%2Fmanifest.mp3",
    "/audio/%2E%2E%2F%2E%2E%2Fpyproject.mp3",
    "/audio/%2Fetc%2Fpasswd.mp3",
    "/audio//etc/passwd.mp3",
    "/audio/manifest.mp3",
    "/audio/manifest.json",
    "/audio/" + "0" * 32 + ".mp3",
    "/audio/OLD.mp3",
])
def test_only_listed_recordings_are_served(config, google, first_build, folder, path):
    first_build.copy_to(folder)
    # A real MP3 in the folder that the manifest does not list (e.g. replaced by an edit).
    (folder / "OLD.mp3").write_bytes(mp3(10))
    (folder / "manifest.mp3").write_bytes(mp3(10))
    assert create_app(config).test_client().get(path).status_code == 404


def test_a_listed_name_in_other_case_is_not_served(config, google, first_build, folder):
    first_build.copy_to(folder)
    name = manifest(folder)["greeting", "en"].file.removesuffix(".mp3")
    assert create_app(config).test_client().get(f"/audio/{name.upper()}.mp3").status_code == 404
