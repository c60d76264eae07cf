"""The right greeting, every time (issue 18): on every worker and host the greeting follows what the
caller chose last, and withheld numbers are nobody's. Runs on SQLite; make test-postgres again."""
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from conftest import CHICAGO, Call, signed_post
from ivr import calllog, create_app
from ivr.schema import caller_languages

OPENING = ("en-US", "For English, press 1.")
MORNING = datetime(2026, 11, 2, 10, 0, tzinfo=CHICAGO)


@pytest.fixture
def config(config, database_url):
    config["DATABASE_URL"] = database_url
    return config


def worker(config, minute: int):
    """Another process (or host) sharing the database, its clock at 10:``minute``."""
    return create_app({**config, "CLOCK": lambda: MORNING + timedelta(minutes=minute)})


def choose(app, key: str, number: str = "+12145559876") -> Call:
    call = Call(app.test_client())
    call.post("/voice", {"From": number})
    call.post(call.heard.gather.get("action"), {"From": number, "Digits": key})
    return call


def greeting(app, number: str = "+12145559876") -> str:
    """The language the caller is greeted in, or "new" for the first-time opening."""
    said = Call(app.test_client()).post("/voice", {"From": number}).said
    if said[1] == OPENING:
        return "new"
    return {"en-US": "en", "es-MX": "es"}[said[0][0]]


def test_a_choice_on_one_worker_is_what_every_other_worker_greets_with(config):
    first, second = worker(config, 0), worker(config, 1)
    choose(first, "2")  # Spanish on the first worker
    assert calllog.flush()
    assert greeting(second) == "es"
    choose(second, "6")  # a minute later, English (6) on the second
    assert calllog.flush()
    # The first worker once knew Spanish: it must not say so now, 75 s later or ever.
    assert greeting(worker(config, 2)) == "en"
    assert greeting(first) == "en"


def test_a_choice_not_yet_written_wins_over_an_older_one_in_the_database(config, monkeypatch):
    first, second = worker(config, 0), worker(config, 1)
    choose(first, "2")
    assert calllog.flush()
    monkeypatch.setattr(calllog, "_wake_writer", lambda: None)  # the writer is behind
    choose(second, "6")
    assert greeting(second) == "en"  # its own, newer choice
    assert greeting(first) == "es"  # the database's, until the writer catches up


def test_an_older_choice_written_late_never_overwrites_a_newer_one(config):
    late, early = worker(config, 5), worker(config, 0)
    choose(late, "1")
    assert calllog.flush()
    choose(early, "6")  # Spanish (6 from English), held through an outage and written after the newer one
    assert calllog.flush()
    assert greeting(worker(config, 6)) == "en"


def test_one_batch_is_one_upsert_whatever_the_number_of_choices(config, monkeypatch):
    app = worker(config, 0)
    monkeypatch.setattr(calllog, "_wake_writer", lambda: None)
    for number in range(20):
        choose(app, "2", f"+1214555{number:04d}")
    choose(app, "6", "+12145550000")  # the same caller again, English: the batch's last choice counts
    statements = []
    engine = app.extensions["ivr.calllog"].engine()
    event.listen(engine, "before_cursor_execute", lambda _c, _cu, statement, *_: statements.append(statement))
    assert calllog.flush()
    assert sum("caller_languages" in statement for statement in statements) == 1
    with engine.connect() as connection:
        languages = dict(connection.execute(select(caller_languages.c.caller_hash, caller_languages.c.lang)).all())
    assert len(languages) == 20 and sorted(languages.values()).count("en") == 1


WITHHELD = ["Anonymous", "Restricted", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253",
            "", "   ", "client:Anonymous", "sip:bob@example.com", "12145559876", "+0123456789", "+1 214 555 9876"]


@pytest.mark.parametrize("number", WITHHELD)
def test_a_withheld_or_odd_number_is_never_remembered(config, number):
    app = worker(config, 0)
    choose(app, "2", number)
    assert calllog.flush()
    assert greeting(app, number) == "new"
    with app.extensions["ivr.calllog"].engine().connect() as connection:
        assert connection.execute(select(caller_languages)).all() == []


def test_withheld_callers_are_not_one_repeat_caller_in_the_report(config):
    app = worker(config, 0)
    for sid, number in enumerate(["Anonymous", "+266696687", "Restricted", "", "+266696687"]):
        signed_post(app.test_client(), "/voice", {"CallSid": f"CA{sid}", "From": number})
    signed_post(app.test_client(), "/voice", {"CallSid": "CA9", "From": "+12145559876"})
    signed_post(app.test_client(), "/voice", {"CallSid": "CA10", "From": "+12145559876"})
    assert calllog.flush()
    report = json.loads(app.test_cli_runner().invoke(args=["report", "--format", "json"]).output)
    assert report["callers"] == 1 and report["repeat_calls"] == 1  # only the real number, twice
