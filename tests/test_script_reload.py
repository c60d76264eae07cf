"""Staff edit the scripts while the line runs: new calls get valid edits, calls in progress
keep their version, and a broken edit is refused (logged) while the line keeps speaking."""
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURE_MENUS, Call, query
from ivr import create_app, script_store
from ivr.script_yaml import ScriptError

RECOVERY_EN = "Here is what to expect after kyphoplasty."


@pytest.fixture
def menus(tmp_path):
    target = tmp_path / "menus"
    shutil.copytree(FIXTURE_MENUS, target)
    return target


@pytest.fixture
def app(config, menus, monkeypatch):
    # Look at the files on every new call, instead of at most once a second.
    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 0)
    config["MENUS_DIR"] = menus
    return create_app(config)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def recovery_summary(client) -> Call:
    call = Call(client)
    call.answer()
    call.press("1")
    call.press("2")
    return call


def test_a_valid_edit_reaches_the_next_call_without_restart(client, menus, caplog):
    caplog.set_level(logging.INFO)
    assert recovery_summary(client).heard.text.startswith(RECOVERY_EN)
    edit(menus / "summaries.yaml", RECOVERY_EN, "After kyphoplasty, here is what to expect.")
    assert recovery_summary(client).heard.text.startswith("After kyphoplasty, here is what to expect.")
    assert "reloaded: now version" in caplog.text


def test_a_call_in_progress_keeps_the_words_it_started_with(client, menus):
    call = Call(client)
    call.answer()
    topics = call.press("1")
    version = query(topics.gather.get("action"))["v"]
    edit(menus / "summaries.yaml", RECOVERY_EN, "After kyphoplasty, here is what to expect.")
    edit(menus / "menus.yaml", "{en: For recovery", "{en: For getting better")
    # The caller is still in the old topic menu: same words, same version in every next URL.
    heard = call.press("2")
    assert heard.text.startswith(RECOVERY_EN)
    assert query(heard.gather.get("action"))["v"] == version
    assert "For recovery, press 2." in call.press("*").text
    assert query(call.heard.first("Redirect").text)["v"] == version
    # A new call hears the new version everywhere.
    new_call = Call(client)
    new_call.post("/voice", {"From": "+12145550002"})  # another caller: the language menu
    assert "For getting better, press 2." in new_call.press("1").text
    assert query(new_call.heard.gather.get("action"))["v"] != version


def test_a_broken_edit_is_refused_and_logged_once(client, menus, caplog):
    before = recovery_summary(client).heard
    edit(menus / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    for _ in range(3):
        heard = recovery_summary(client).heard
        assert heard.text == before.text
    refusals = [r for r in caplog.records if "not reloaded" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelname == "ERROR"
    assert "menus.yaml:" in refusals[0].getMessage() and "'recovry', which does not exist" in refusals[0].getMessage()
    # Fixed: the next call gets the fixed version.
    edit(menus / "menus.yaml", "goes_to: recovry", "goes_to: recovery")
    edit(menus / "summaries.yaml", RECOVERY_EN, "After kyphoplasty, here is what to expect.")
    assert recovery_summary(client).heard.text.startswith("After kyphoplasty")


def test_an_unknown_version_gets_the_newest_good_one(call):
    heard = call.post("/ivr/menu/topics?lang=en&v=00000000")
    assert "For recovery, press 2." in heard.text
    assert query(heard.gather.get("action"))["v"] != "00000000"


def test_a_version_loaded_by_another_worker_is_found_by_reading_the_files(config, menus, monkeypatch):
    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 3600)  # no worker looks by itself
    config["MENUS_DIR"] = menus
    worker_1, worker_2 = create_app(config).test_client(), create_app(config).test_client()
    edit(menus / "menus.yaml", "{en: For recovery", "{en: For getting better")
    worker_1.application.extensions["ivr.scripts"].refresh(force=True)  # it took a new call
    call = Call(worker_1)
    call.answer()
    call.press("1")
    # The call's next step lands on the other worker, which has not looked at the files yet.
    call.client = worker_2
    call.press("3")
    assert "For getting better, press 2." in call.press("*").text


def test_the_files_are_looked_at_at_most_once_a_second(config, menus, monkeypatch):
    config["MENUS_DIR"] = menus
    client = create_app(config).test_client()
    store = client.application.extensions["ivr.scripts"]
    looks = []
    real = store._files_stamp
    monkeypatch.setattr(store, "_files_stamp", lambda: looks.append(1) or real())
    for _ in range(20):
        Call(client).answer()
    assert len(looks) <= 1


def test_the_scripts_folder_disappearing_keeps_the_line_speaking(client, menus, caplog):
    shutil.rmtree(menus)
    heard = recovery_summary(client).heard
    assert heard.text.startswith(RECOVERY_EN)
    assert "not reloaded" in caplog.text


def test_only_the_last_versions_are_kept(config, menus, monkeypatch):
    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 0)
    monkeypatch.setattr(script_store, "KEEP_VERSIONS", 2)  # each version is a load of about 0.3 s
    config["MENUS_DIR"] = menus
    store = create_app(config).extensions["ivr.scripts"]
    first = store.current
    for n in range(script_store.KEEP_VERSIONS + 1):
        edit(menus / "menus.yaml", "{en: For recovery" + " now" * n, "{en: For recovery" + " now" * (n + 1))
        store.refresh()
    assert store.get(first)[0] == store.current != first


def latin1(path: Path) -> None:
    """Save the file as a Windows editor's "ANSI" would."""
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


@pytest.mark.parametrize("break_it", [
    lambda menus: latin1(menus / "summaries.yaml"),
    lambda menus: edit(menus / "summaries.yaml", "Avoid heavy lifting", "Avoid\x07 heavy lifting"),
    lambda menus: edit(menus / "menus.yaml", "    back_to: topics\n", "\tback_to: topics\n"),
], ids=["latin-1", "control character", "tab"])
def test_a_broken_file_keeps_the_last_good_version_and_says_so_where_staff_look(client, menus, caplog, break_it):
    good = client.get("/healthz").json
    assert good["scripts"] == "ok" and "rejected" not in good
    break_it(menus)
    for _ in range(3):
        assert recovery_summary(client).heard.text.startswith(RECOVERY_EN)
        health = client.get("/healthz")
        assert health.status_code == 200
    assert health.json["scripts"] == "last good kept"
    assert health.json["script_version"] == good["script_version"]
    assert "(file): " in health.json["rejected"] and ".yaml:" in health.json["rejected"]
    assert len([r for r in caplog.records if "not reloaded" in r.getMessage()]) == 1
    assert "Traceback" not in caplog.text
    # Fixed: the next call and the health check say so.
    shutil.rmtree(menus)
    shutil.copytree(FIXTURE_MENUS, menus)
    assert client.get("/healthz").json["scripts"] == "ok"


def test_the_preview_shows_a_rejected_edit_and_what_changed(config, menus):
    config.update(IVR_PREVIEW=True, MENUS_DIR=menus)
    client = create_app(config).test_client()
    version = client.get("/healthz").json["script_version"]
    page = client.get("/preview").get_data(as_text=True)
    assert 'id="rejected"' not in page and "No change since the line started." in page
    edit(menus / "menus.yaml", "    en: That is not one of the choices.", "    en: To try again, press # and then 1.")
    page = client.get("/preview").get_data(as_text=True)
    assert 'id="rejected"' in page
    assert "Callers still hear the last good version, and so does this page." in page
    assert version not in page  # a manager reads words, not version names
    assert "prompts.invalid_choice: the text stops before &#34;# and then 1.&#34;" in page
    assert "Not playing: how the files differ from the version callers hear" in page
    assert "− " + "    en: That is not one of the choices." in page
    assert "+ " + "    en: To try again, press # and then 1." in page


# -- a restart with broken files ---------------------------------------------------


def test_a_restart_with_a_broken_file_starts_on_the_last_good_version_and_says_so(config, menus, tmp_path, caplog,
                                                                                   monkeypatch):
    monkeypatch.setattr(script_store, "RECHECK_SECONDS", 0)
    config["MENUS_DIR"] = menus
    first = create_app(config).test_client()
    good = first.get("/healthz").json["script_version"]
    # Kept beside the call log (config: tmp_path/calls.sqlite3).
    assert (tmp_path / "scripts-last-good" / "version").read_text().strip() == good
    edit(menus / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    caplog.clear()
    restarted = create_app(config).test_client()  # a restart: a new process would do the same
    assert recovery_summary(restarted).heard.text.startswith(RECOVERY_EN)
    loud = [r for r in caplog.records if "HAVE ERRORS" in r.getMessage()]
    assert len(loud) == 1 and loud[0].levelname == "ERROR"
    assert "started on the last version that passed check" in loud[0].getMessage()
    assert "'recovry', which does not exist" in loud[0].getMessage()
    health = restarted.get("/healthz").json
    assert health["scripts"] == "started on last good" and health["script_version"] == good
    # Not logged again on every call; fixed, the next call hears the files, and they are kept.
    recovery_summary(restarted)
    assert len([r for r in caplog.records if "recovry" in r.getMessage()]) == 1
    edit(menus / "menus.yaml", "goes_to: recovry", "goes_to: recovery")
    edit(menus / "summaries.yaml", RECOVERY_EN, "After kyphoplasty, here is what to expect.")
    assert recovery_summary(restarted).heard.text.startswith("After kyphoplasty, here is what to expect.")
    health = restarted.get("/healthz").json
    assert health["scripts"] == "ok"
    assert (tmp_path / "scripts-last-good" / "version").read_text().strip() == health["script_version"] != good
    assert [p.name for p in (tmp_path / "scripts-last-good").iterdir() if p.is_dir()] == [health["script_version"]]


def test_a_first_start_with_a_broken_file_refuses(config, menus):
    # No version ever passed check here: there is nothing good to speak.
    edit(menus / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    config["MENUS_DIR"] = menus
    with pytest.raises(ScriptError, match="recovry"):
        create_app(config)


def test_the_last_good_folder_can_be_set(config, menus, tmp_path):
    config.update(MENUS_DIR=menus, LAST_GOOD_SCRIPTS_DIR=str(tmp_path / "elsewhere"), DATABASE_URL="")
    version = create_app(config).extensions["ivr.scripts"].current
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == [version, "version"]
    assert sorted(p.name for p in (tmp_path / "elsewhere" / version).iterdir()) == sorted(
        p.name for p in menus.glob("*.yaml"))
    latin1(menus / "summaries.yaml")
    assert create_app(config).extensions["ivr.scripts"].state == "started on last good"


def test_the_preview_says_the_line_started_on_the_last_good_version(config, menus):
    config.update(IVR_PREVIEW=True, MENUS_DIR=menus)
    create_app(config)
    latin1(menus / "summaries.yaml")
    page = create_app(config).test_client().get("/preview").get_data(as_text=True)
    assert 'id="rejected"' in page
    assert "The files on disk have errors: the line started on the last good version." in page
    assert "this file is not saved as UTF-8" in page


def test_a_server_process_restarted_with_a_broken_file_starts_and_says_so(menus, tmp_path):
    # gunicorn and make run import app.py: python -c stands in for them, without a server to stop.
    environment = {**os.environ, "IVR_DEV_INSECURE": "1", "TWILIO_AUTH_TOKEN": "",
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'calls.sqlite3'}"}
    program = f"import ivr; ivr.DEFAULT_MENUS_DIR = {str(menus)!r}; import app; print(app.app.name)"
    root = Path(__file__).parent.parent

    def start():
        return subprocess.run([sys.executable, "-c", program], cwd=root, env=environment, capture_output=True,
                              text=True, timeout=120)

    assert start().returncode == 0
    latin1(menus / "summaries.yaml")
    restarted = start()
    assert restarted.returncode == 0, restarted.stderr
    assert "THE SCRIPTS IN" in restarted.stderr and "HAVE ERRORS" in restarted.stderr
    assert "this file is not saved as UTF-8" in restarted.stderr and "Traceback" not in restarted.stderr


def test_a_kept_version_that_no_longer_passes_leaves_the_files_errors_to_fix(config, menus, tmp_path):
    config["MENUS_DIR"] = menus
    version = create_app(config).extensions["ivr.scripts"].current
    edit(tmp_path / "scripts-last-good" / version / "menus.yaml", "goes_to: recovery", "goes_to: nowhere")
    edit(menus / "menus.yaml", "goes_to: recovery", "goes_to: recovry")
    with pytest.raises(ScriptError, match="recovry"):
        create_app(config)
