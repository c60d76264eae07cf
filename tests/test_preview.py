"""The /preview page: only when turned on, the real signed webhooks behind it, and a real
browser pressing its keys."""
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from conftest import CLINIC_NUMBER, edit
from ivr import create_app, views


@pytest.fixture
def config(config):
    config.update(IVR_PREVIEW=True, IVR_DEV_INSECURE=False)
    return config


def test_preview_does_not_exist_in_production(config):
    config["IVR_PREVIEW"] = False
    client = create_app(config).test_client()
    assert client.get("/preview").status_code == 404
    assert client.post("/preview/step", json={}).status_code == 404


def test_preview_is_on_in_dev_mode_without_a_token_and_says_so(config, caplog):
    config.update(IVR_PREVIEW=False, IVR_DEV_INSECURE=True, TWILIO_AUTH_TOKEN="")
    assert create_app(config).test_client().get("/preview").status_code == 200
    assert "The /preview page is on" in caplog.text


def test_preview_stays_off_in_dev_mode_with_a_real_token(config, caplog):
    config.update(IVR_PREVIEW=False, IVR_DEV_INSECURE=True)
    assert create_app(config).test_client().get("/preview").status_code == 404
    assert "/preview" not in caplog.text


def test_turning_the_preview_on_logs_a_warning(config, caplog):
    assert create_app(config).test_client().get("/preview").status_code == 200
    assert [r.levelname for r in caplog.records if "The /preview page is on" in r.getMessage()] == ["WARNING"]


def test_preview_page_has_a_keypad(client):
    page = client.get("/preview").get_data(as_text=True)
    assert all(f'data-key="{key}"' in page for key in "0123456789*#")
    assert "/preview/step" in page


def step(client, body):
    response = client.post("/preview/step", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def answer(client, turn, **what):
    return step(client, {"answer": what, "wait": turn["wait"], "rest": turn["rest"], "call_sid": turn["call_sid"]})


def said(turn):
    return " ".join(verb.get("text", "") for verb in turn["heard"])


def test_preview_walks_the_signed_webhooks(client):
    turn = step(client, {})
    assert "Dallas Pain Relief Center" in said(turn) and turn["keys"] == ["1", "2", "0"]
    turn = answer(client, turn, press="2")
    assert said(turn).startswith("Información general, no consejo médico.")
    assert {verb["language"] for verb in turn["heard"]} == {"es-MX"}
    assert turn["keys"] == ["1", "2", "3", "4", "6", "0", "*"]
    turn = answer(client, turn, silence=True)
    assert said(turn).startswith("Disculpe, no escuché")
    turn = answer(client, turn, say="riesgos")
    assert said(turn).startswith("Estos son los posibles riesgos")
    turn = answer(client, turn, press="0")
    assert turn["wait"]["verb"] == "dial" and turn["wait"]["number"] == CLINIC_NUMBER
    turn = answer(client, turn, dial="busy")
    assert "no puede atender su llamada" in said(turn)
    turn = answer(client, turn, press="7")
    assert turn["wait"]["verb"] == "record"
    turn = answer(client, turn, record="message")
    assert said(turn).startswith("Gracias. Su mensaje quedó guardado.") and turn["wait"] is None


def test_the_webhooks_still_refuse_unsigned_requests_with_preview_on(client):
    assert client.post("/voice").status_code == 403
    assert client.post("/ivr/choose/topics?lang=en", data={"Digits": "1"}).status_code == 403


@pytest.mark.parametrize("body", [
    {"answer": {"press": "1"}, "wait": {"verb": "gather", "action": "https://evil.example/x"}, "rest": []},
    {"answer": {"press": "1"}, "wait": {"verb": "gather", "action": "/preview/step"}, "rest": []},
    {"answer": {"silence": True}, "wait": {"verb": "gather"}, "rest": [{"verb": "redirect", "url": "/static/x"}]},
    {"answer": {"dial": "maybe"}, "wait": {"verb": "dial", "action": "/ivr/clinic/done?lang=en"}, "rest": []},
    {"answer": "1", "wait": {}, "rest": []},
    {"answer": {"press": "1"}, "wait": {"action": "/ivr/choose/topics"}, "rest": []},
])
def test_preview_refuses_what_is_not_a_step_of_the_call(client, body):
    response = client.post("/preview/step", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]


def with_recorded_greeting(monkeypatch):
    """As issue 4's audio does: some prompts are <Play> of a recording instead of <Say>."""
    real_speak = views.speak

    def speak(parent, prompt_id, lang):
        if prompt_id == "greeting":
            parent.play("/recorded/greeting.mp3")
        else:
            real_speak(parent, prompt_id, lang)

    monkeypatch.setattr(views, "speak", speak)


def test_preview_passes_recorded_audio_on(client, monkeypatch):
    with_recorded_greeting(monkeypatch)
    turn = step(client, {})
    assert turn["heard"][0] == {"verb": "play", "url": "/recorded/greeting.mp3"}


# -- in a real browser -----------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--window-size=1200,900"]


@pytest.fixture
def browser(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver: `make test` as root installs them "
                    "(or: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    # An explicit driver path: Selenium does not look for (or download) one itself.
    browser = webdriver.Chrome(service=Service(driver), options=options)
    yield browser
    browser.quit()


@pytest.fixture
def server(app):
    served = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_port}"
    served.shutdown()
    thread.join(timeout=5)


def test_a_staff_member_walks_the_line_in_a_browser(browser, server, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with_recorded_greeting(monkeypatch)
    wait = WebDriverWait(browser, 10, poll_frequency=0.05)

    def transcript():
        return [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#transcript li")]

    def click_then_see(selector, text):
        before = len(transcript())
        browser.find_element(By.CSS_SELECTOR, selector).click()
        wait.until(lambda _: any(text in line for line in transcript()[before:]))
        return transcript()[before:]

    browser.get(server + "/preview")
    lines = click_then_see("#call", "For English, press 1")
    assert any(line.startswith("A recording plays: greeting.mp3") for line in lines), lines
    assert browser.find_element(By.ID, "player").get_attribute("src").endswith("/recorded/greeting.mp3")
    # The manager can play the recording again.
    browser.find_element(By.CSS_SELECTOR, "#transcript li.play button").click()
    assert browser.find_element(By.ID, "player").get_attribute("src").endswith("/recorded/greeting.mp3")
    offered = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#keypad button.offered")]
    assert offered == ["1", "2", "0"]

    lines = click_then_see('[data-key="2"]', "El procedimiento, oprima 1.")
    assert lines[0] == "You press 2"
    assert all(line.startswith("Spanish") for line in lines[1:])
    assert "Keys that do something here: 1 2 3 4 6 0 *" in browser.find_element(By.ID, "status").text

    click_then_see("#silence", "Disculpe, no escuché ninguna opción.")

    browser.find_element(By.ID, "speech").send_keys("recuperación")
    click_then_see("#say-button", "Esto es lo que puede esperar después de la cifoplastia.")

    click_then_see('[data-key="0"]', "Le comunico con la clínica.")
    assert browser.find_element(By.ID, "dial-choices").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, '[data-key="1"]').is_enabled()
    click_then_see('[data-dial="no-answer"]', "no puede atender su llamada")
    click_then_see('[data-key="7"]', "después del tono")
    assert click_then_see('[data-record="message"]', "Su mensaje quedó guardado.")[0] == "You leave a message"
    assert transcript()[-1] == "The line hung up."
    assert browser.find_element(By.ID, "status").text == "The line hung up."
    assert not browser.find_element(By.CSS_SELECTOR, '[data-key="1"]').is_enabled()


def test_the_address_make_run_prints_leads_to_the_preview(config):
    config.update(IVR_PREVIEW=False, IVR_DEV_INSECURE=True, TWILIO_AUTH_TOKEN="")
    response = create_app(config).test_client().get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/preview"


def test_there_is_no_home_page_in_production(config):
    config["IVR_PREVIEW"] = False
    assert create_app(config).test_client().get("/").status_code == 404


# -- for a clinic manager -------------------------------------------------------------


def test_the_page_lists_every_working_key_in_a_managers_words(client):
    page = client.get("/preview").get_data(as_text=True)
    keys = page.split('<table id="keys">', 1)[1].split("</table>", 1)[0]
    # The fixture's after-summary menu still has 9 for "again" (the key map makes it the 911 sentence).
    for key, does in [("1", "For the procedure (from every menu, also during and after a summary"),
                      ("6", "the other language"), ("7", "leave a message"), ("8", "again, more slowly"),
                      ("0", "the clinic"), ("*", "back"), ("5", "only where the line offers it"),
                      ("9", "hear the summary or answer again")]:
        row = keys.split(f"<tr><th>{key}</th><td>", 1)[1].split("</td>", 1)[0]
        assert does in row, (key, row)
    assert [row.split("</th>")[0] for row in keys.split("<tr><th>")[1:]] == list("1234567890*#")
    for jargon in ("en-US</", "es-MX</", ">en-US", ">es-MX"):
        assert jargon not in page


def test_nine_is_the_emergency_sentence_where_no_menu_uses_it(menus_copy, config):
    edit(menus_copy / "menus.yaml", '''      "9":
        say: {en: To hear this again, es: Para escucharlo otra vez}
        goes_to: again
        hints:
          en: [again, repeat, hear it again]
          es: [otra vez, repetir, de nuevo]
''', "")
    config["MENUS_DIR"] = menus_copy
    page = create_app(config).test_client().get("/preview").get_data(as_text=True)
    assert ("<tr><th>9</th><td>never a choice: the caller hears &#34;For emergencies, hang up and dial 9 1 1.&#34; "
            "and the same menu again</td>") in page


def test_the_page_shows_the_seconds_to_each_summary_with_the_budgets(client):
    from ivr import timing
    from ivr.menus import load_script

    script = load_script(client.application.config["MENUS_DIR"])
    page = client.get("/preview").get_data(as_text=True)
    table = page.split('<table id="timing">', 1)[1].split("</table>", 1)[0]
    for lang in ("en", "es"):
        seconds = timing.time_to_information(script, lang, returning=False)["procedure"]
        assert f"{round(seconds, 1)} s</td>" in table
    assert f"<td>{timing.FIRST_TOPIC_BUDGET} s</td>" in table and f"<td>{timing.EVERY_TOPIC_BUDGET} s</td>" in table
    assert table.count("<td>first-time</td>") == 4 and table.count("<td>returning</td>") == 4


def test_the_page_shows_warnings_too(config, tmp_path):
    shutil.copytree("tests/fixtures/scripts/warnings", tmp_path / "warnings")
    config["MENUS_DIR"] = tmp_path / "warnings"
    page = create_app(config).test_client().get("/preview").get_data(as_text=True)
    assert 'id="rejected"' not in page
    assert "Advice from <code>make check</code> (15):" in page
    assert "summaries.recovery: warning: about 102.7 s in English" in page


def test_the_transcript_speaks_of_the_caller_as_you(client):
    page = client.get("/preview").get_data(as_text=True)
    assert 'data-said="You leave a message"' in page and 'data-said="You say nothing"' in page
    assert "You leaves" not in page
