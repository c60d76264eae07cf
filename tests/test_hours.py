"""Clinic hours: open, closed, holidays and daylight saving, as callers hear them."""
import re
from datetime import UTC, date, datetime, time

import pytest

from conftest import CHICAGO, CLINIC_NUMBER, FIXTURE_MENUS, edit, query, script_errors
from ivr import hours
from ivr.menus import load_script

HOURS = load_script(FIXTURE_MENUS).clinic_hours
LANG = {"en": ("1", "en-US"), "es": ("2", "es-MX")}


def chicago(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the clock ---------------------------------------------------------------------


@pytest.mark.parametrize("now,is_open", [
    (chicago("2026-11-02 08:00"), True),    # Monday, opening minute
    (chicago("2026-11-02 07:59"), False),
    (chicago("2026-11-06 16:59"), True),    # Friday
    (chicago("2026-11-06 17:00"), False),   # closing time: closed
    (chicago("2026-11-07 10:00"), False),   # Saturday
    (chicago("2026-11-26 10:00"), False),   # Thanksgiving
    (chicago("2026-11-27 10:00"), False),   # the day after
    (chicago("2026-11-30 10:00"), True),
])
def test_open_and_closed(now, is_open):
    assert hours.is_open(HOURS, now) is is_open


@pytest.mark.parametrize("now,opens_utc", [
    # Autumn: Friday in CDT (UTC-5), Monday in CST (UTC-6). 8 a.m. Monday is 14:00 UTC.
    (chicago("2026-10-30 17:30"), utc("2026-11-02 14:00")),
    # The night the clocks go back, inside the repeated hour.
    (datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CHICAGO), utc("2026-11-02 14:00")),
    # Spring: Friday in CST, Monday in CDT. 8 a.m. Monday is 13:00 UTC.
    (chicago("2026-03-06 18:00"), utc("2026-03-09 13:00")),
    (chicago("2026-03-08 03:30"), utc("2026-03-09 13:00")),
])
def test_next_opening_is_8am_local_across_daylight_saving_changes(now, opens_utc):
    opens = hours.next_opening(HOURS, now)
    assert opens.astimezone(UTC) == opens_utc
    assert opens.hour == 8 and opens.weekday() == 0


@pytest.mark.parametrize("now,is_open", [
    (utc("2026-11-02 13:59"), False),  # 7:59 CST
    (utc("2026-11-02 14:00"), True),   # 8:00 CST; an hour earlier was 8:00 CDT last week
    (utc("2026-03-09 12:59"), False),  # 7:59 CDT
    (utc("2026-03-09 13:00"), True),   # 8:00 CDT
])
def test_opening_follows_dallas_clocks_not_utc(now, is_open):
    assert hours.is_open(HOURS, now) is is_open


@pytest.mark.parametrize("moment,en,es", [
    (time(8), "8 a.m.", "las 8 de la mañana"),
    (time(8, 30), "8:30 a.m.", "las 8:30 de la mañana"),
    (time(12), "noon", "las 12 del mediodía"),
    (time(12, 30), "12:30 p.m.", "las 12:30 del mediodía"),
    (time(13), "1 p.m.", "la 1 de la tarde"),
    (time(17, 15), "5:15 p.m.", "las 5:15 de la tarde"),
    (time(20), "8 p.m.", "las 8 de la noche"),
])
def test_times_are_said_as_people_say_them(moment, en, es):
    assert hours.spoken_time(moment, "en") == en
    assert hours.spoken_time(moment, "es") == es


@pytest.mark.parametrize("now,en,es", [
    (chicago("2026-11-02 06:00"), "today at 8 a.m.", "hoy a las 8 de la mañana"),
    (chicago("2026-11-02 17:30"), "tomorrow at 8 a.m.", "mañana a las 8 de la mañana"),
    (chicago("2026-11-06 17:30"), "Monday at 8 a.m.", "el lunes a las 8 de la mañana"),
    (chicago("2026-11-25 17:30"), "Monday at 8 a.m.", "el lunes a las 8 de la mañana"),  # Thanksgiving
    (chicago("2026-12-31 17:30"), "Monday at 8 a.m.", "el lunes a las 8 de la mañana"),  # New Year
])
def test_next_opening_in_words(now, en, es):
    assert hours.spoken_opening(HOURS, now, "en") == en
    assert hours.spoken_opening(HOURS, now, "es") == es


def test_a_long_closure_says_the_date():
    closure = {date(2026, 12, day): "winter break" for day in range(24, 32)} | {date(2027, 1, 1): "winter break"}
    long_break = HOURS.model_copy(update={"closed_on": closure})
    now = chicago("2026-12-23 17:30")
    assert hours.spoken_opening(long_break, now, "en") == "Monday, January 4, at 8 a.m."
    assert hours.spoken_opening(long_break, now, "es") == "el lunes 4 de enero a las 8 de la mañana"


# -- calls after hours -----------------------------------------------------------------


@pytest.fixture
def clock(app):
    def set_clock(now: datetime) -> None:
        app.config["CLOCK"] = lambda: now
    return set_clock


def choose_language(call, lang):
    call.answer()
    return call.press(LANG[lang][0])


CLOSED = {
    "en": "The clinic is closed right now. We open Monday at 8 a.m. "
          "If you have an emergency, hang up and dial 9 1 1. "
          "To leave a message for the clinic, press 7. For the topics, press star.",
    "es": "La clínica está cerrada en este momento. Abrimos el lunes a las 8 de la mañana. "
          "Si tiene una emergencia, cuelgue y marque al 9 1 1. "
          "Para dejarle un mensaje a la clínica, oprima 7. Para los temas, oprima asterisco.",
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_after_hours_zero_says_when_the_clinic_opens_and_offers_voicemail(call, clock, lang):
    clock(chicago("2026-11-06 18:30"))  # Friday evening
    choose_language(call, lang)
    heard = call.press("0")
    assert heard.first("Dial") is None
    assert heard.text == CLOSED[lang]
    assert heard.languages == {LANG[lang][1]}
    # Inside the Gather: the caller can press 7 while the message plays.
    assert CLOSED[lang][:40] in " ".join(heard.gather.itertext())
    heard = call.press("7")
    record = heard.first("Record")
    assert record is not None and record.get("finishOnKey") == "#" and record.get("playBeep") == "true"
    assert int(record.get("maxLength")) <= 300
    assert query(record.get("recordingStatusCallback"))["lang"] == lang
    heard = call.follow("Record", {"RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "30"})
    assert ("Thank you" if lang == "en" else "Gracias") in heard.text
    assert heard.verbs[-1] == "Hangup"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_zero_transfers_during_open_hours(call, clock, lang):
    clock(chicago("2026-11-06 16:59"))
    choose_language(call, lang)
    assert call.press("0").first("Dial").text.strip() == CLINIC_NUMBER


def test_star_from_the_closed_message_goes_back_to_topics(call, clock):
    clock(chicago("2026-11-07 11:00"))
    choose_language(call, "es")
    call.press("0")
    assert "La recuperación, oprima 2." in call.press("*").text


def test_silence_after_the_closed_message_repeats_it(call, clock):
    clock(chicago("2026-11-07 11:00"))
    choose_language(call, "en")
    call.press("0")
    heard = call.wait_silently()
    # Its options again, with why: the closed message was just said (0 says it again).
    assert heard.text.startswith("Sorry, I did not hear a choice. To leave a message for the clinic, press 7.")
    assert "The clinic is closed right now." in call.press("0").text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_holiday_is_closed(call, clock, lang):
    clock(chicago("2026-11-26 10:00"))  # Thanksgiving, a Thursday
    choose_language(call, lang)
    heard = call.press("0")
    assert heard.first("Dial") is None
    assert ("Monday at 8 a.m." if lang == "en" else "el lunes a las 8 de la mañana") in heard.text
    assert "9 1 1" in heard.text


@pytest.mark.parametrize("now,expect_dial", [(utc("2026-11-02 13:59"), False), (utc("2026-11-02 14:00"), True)])
def test_first_monday_after_the_clocks_go_back(call, clock, now, expect_dial):
    clock(now)
    choose_language(call, "es")
    heard = call.press("0")
    assert (heard.first("Dial") is not None) is expect_dial
    if not expect_dial:
        assert "Abrimos hoy a las 8 de la mañana." in heard.text


def test_zero_before_choosing_a_language_after_hours(call, clock):
    clock(chicago("2026-11-07 11:00"))
    call.answer()
    heard = call.press("0")
    assert heard.text.startswith("The clinic is closed right now.")


def test_trying_the_busy_clinic_again_after_closing_time(call, clock):
    clock(chicago("2026-11-06 16:58"))
    choose_language(call, "en")
    call.press("0")
    call.follow("Dial", {"DialCallStatus": "no-answer"})
    clock(chicago("2026-11-06 17:01"))
    heard = call.press("0")
    assert heard.first("Dial") is None
    assert "We open Monday at 8 a.m." in heard.text


def test_spanish_closed_path_has_no_english(call, clock):
    clock(chicago("2026-11-06 18:30"))
    choose_language(call, "es")
    heard = call.press("0")
    english = re.compile(r"\b(press|the|open|closed|clinic|a\.m\.|p\.m\.|Monday)\b", re.I)
    assert not english.search(heard.text)


# -- staff mistakes in clinic.yaml ----------------------------------------------------------


@pytest.mark.parametrize("old,new,message", [
    ('monday: "8:00 - 17:00"', 'monday: "8 - 5"', 'write hours like "8:00 - 17:00" (24-hour clock) or "closed"'),
    ('monday: "8:00 - 17:00"', 'monday: "17:00 - 8:00"', "the clinic must open before it closes"),
    ('monday: "8:00 - 17:00"', 'monday: "8:00 - 25:00"', "is not a time of day"),
    ('monday: "8:00 - 17:00"', "monday: 8:00", 'write hours like "8:00 - 17:00"'),
    ("2026-11-26: Thanksgiving Day", "2026-11-31: Thanksgiving Day", "clinic_hours.closed_on.2026-11-31"),
    ("timezone: America/Chicago", "timezone: Dallas", "unknown time zone 'Dallas' (Dallas is America/Chicago)"),
    ("en: >-\n      The clinic is closed right now. We open {opening}.",
     "en: >-\n      The clinic is closed right now. We open {openning}.",
     "closed (en) must say {opening} and may use only {opening}"),
    ('es: "el {day} a {time}"', 'es: "el {dia} a {time}"', "opening.this_week (es) must say {time}"),
])
def test_clinic_mistakes_name_file_and_line(menus_copy, old, new, message):
    line = edit(menus_copy / "clinic.yaml", old, new)
    found = script_errors(menus_copy)
    assert message in found, found
    assert re.search(rf"clinic\.yaml:{line}: clinic_hours: ", found), found


def test_a_clinic_never_open_is_reported(menus_copy):
    path = menus_copy / "clinic.yaml"
    path.write_text(re.sub(r'"8:00 - 17:00"', "closed", path.read_text(encoding="utf-8")), encoding="utf-8")
    assert "the clinic must be open at least one day a week" in script_errors(menus_copy)


def test_a_missing_day_is_reported(menus_copy):
    line = edit(menus_copy / "clinic.yaml", '    tuesday: "8:00 - 17:00"\n', "")
    assert f"clinic.yaml:{line - 1}: clinic_hours: 'tuesday' is missing" in script_errors(menus_copy)


def test_seven_day_names_are_needed(menus_copy):
    edit(menus_copy / "clinic.yaml", "sábado, domingo]", "sábado]")
    assert "clinic_hours.day_names.es: List should have at least 7 items" in script_errors(menus_copy)
