"""The clinic's report from the call log: how the line is used, and which topics matter.

``summarise`` turns call log rows (ivr/calllog.py) into numbers; ``render`` prints them as
text to read, CSV for a spreadsheet or JSON for programs. Days are the clinic's days.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from . import script
from .views import CONNECTED_DIAL_STATUSES

# The report's language columns: each language, and calls that hung up before choosing one.
LANGUAGE_NAMES = {**script.LANGUAGE_NAMES, "none": "no choice"}
# Twilio's callbacks arrive after the caller's last step; they are not steps themselves
# ("message" rows are voicemails from before they had their own table).
CALLBACK_EVENTS = {"status", "message"}


def _local(time_utc: datetime, zone: ZoneInfo) -> datetime:
    return time_utc.replace(tzinfo=UTC).astimezone(zone)


def summarise(rows, zone: ZoneInfo, since: datetime | None, topics: list[str], messages=(),
              steps_not_logged: int = 0, entries: list[str] = ()) -> dict:
    """The report's numbers, from rows in time order. ``topics`` and question ``entries`` are listed
    even if nobody chose or asked them. ``messages``: voicemails in time order, with when each was
    e-mailed (calllog.CallLog.messages)."""
    calls: dict[str, list] = {}
    for row in rows:
        calls.setdefault(row.call_sid, []).append(row)

    days: dict[str, Counter] = {}
    languages: Counter = Counter({lang: 0 for lang in LANGUAGE_NAMES})
    chosen = {topic: set() for topic in topics}
    plays: Counter = Counter({topic: 0 for topic in topics})
    hung_up: Counter = Counter({topic: 0 for topic in topics})
    transfers: Counter = Counter(answered=0, missed=0, after_hours=0)
    callers: Counter = Counter()
    durations, errors = [], 0
    # Questions: by the entry that answered them, "unanswered" or "emergency" (calllog's detail).
    asked: Counter = Counter({entry: 0 for entry in entries})
    unanswered_words: list[str] = []

    for call_sid, steps in calls.items():
        day = _local(steps[0].time_utc, zone).date().isoformat()
        lang = next((step.lang for step in steps if step.lang), None) or "none"
        days.setdefault(day, Counter(calls=0, **{lang: 0 for lang in LANGUAGE_NAMES})).update(calls=1, **{lang: 1})
        languages[lang] += 1
        caller = next((step.caller_hash for step in steps if step.caller_hash), None)
        if caller:
            callers[caller] += 1
        ended = None
        for step in steps:
            if step.event == "summary":
                chosen.setdefault(step.detail, set()).add(call_sid)
                plays[step.detail] += 1
            elif step.event == "dial":
                transfers["answered" if step.detail in CONNECTED_DIAL_STATUSES else "missed"] += 1
            elif step.event == "menu" and step.detail == "clinic_closed":
                transfers["after_hours"] += 1
            elif step.event == "question":
                asked[step.detail] += 1
                if step.asked:
                    unanswered_words.append(step.asked)
            elif step.event == "status":
                ended = step.detail
                if step.seconds is not None:
                    durations.append(step.seconds)
        errors += any(step.event == "error" for step in steps)
        taken = [step for step in steps if step.event not in CALLBACK_EVENTS]
        # The caller hung up while a summary (or the menu after it) was playing.
        if ended == "completed" and taken and taken[-1].event == "summary":
            hung_up[taken[-1].detail] += 1

    return {
        "since": since.date().isoformat() if since else None,
        "time_zone": zone.key,
        "calls": len(calls),
        "callers": len(callers) if callers else None,
        "repeat_calls": sum(callers.values()) - len(callers),
        "average_call_seconds": round(sum(durations) / len(durations)) if durations else None,
        "days": [{"day": day, **counts} for day, counts in sorted(days.items())],
        "languages": dict(languages),
        "topics": sorted(
            ({"topic": topic, "calls": len(chosen[topic]), "plays": plays[topic],
              "hung_up_during_summary": hung_up[topic]} for topic in chosen),
            key=lambda t: (-t["calls"], -t["plays"], topics.index(t["topic"]) if t["topic"] in topics else len(topics)),
        ),
        "transfers": dict(transfers),
        "calls_with_errors": errors,
        "voicemails": [{
            "time": f"{_local(message.time_utc, zone):%Y-%m-%d %H:%M}",
            "lang": message.lang or "none",
            "seconds": message.seconds,
            "recording_sid": message.recording_sid,
            "url": message.recording_url,
            "emailed_at": f"{_local(message.sent_utc, zone):%Y-%m-%d %H:%M}" if message.sent_utc else None,
            **({"not_sent_because": message.last_error}
               if not message.sent_utc and getattr(message, "last_error", None) else {}),
        } for message in messages],
        "steps_not_logged": steps_not_logged,
        "questions": [{"entry": entry, "asked": count} for entry, count in sorted(
            ((e, n) for e, n in asked.items() if e not in ("unanswered", "emergency")),
            key=lambda item: (-item[1], item[0]))],
        "questions_unanswered": asked["unanswered"],
        "questions_emergency": asked["emergency"],
        "unanswered_words": unanswered_words,
    }


def to_your_phone(engine, since: datetime | None, zone: ZoneInfo) -> dict:
    """Key 5's part of the report: texts by topic (sent, failed, waiting), and the open call-back
    requests, each with the last digits of its number only (``flask callbacks`` shows it whole)."""
    from . import callbacks, text_messages

    return {
        "text_messages": [{"topic": topic, **outcomes}
                          for topic, outcomes in sorted(text_messages.counts(engine, since).items())],
        "callbacks_open": [{
            "id": request.id,
            "time": f"{_local(request.time_utc, zone):%Y-%m-%d %H:%M}",
            "lang": request.lang or "none",
            "emailed_at": f"{_local(request.sent_utc, zone):%Y-%m-%d %H:%M}" if request.sent_utc else None,
        } for request in callbacks.open_requests(engine)],
    }


def render(report: dict, output: str) -> str:
    return {"text": as_text, "csv": as_csv, "json": as_json}[output](report)


def as_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def as_csv(report: dict) -> str:
    """One number per row: section, item, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "value"])
    writer.writerow(["calls", "total", report["calls"]])
    writer.writerow(["calls", "different callers", "" if report["callers"] is None else report["callers"]])
    writer.writerow(["calls", "average seconds", report["average_call_seconds"] or ""])
    writer.writerow(["calls", "with errors", report["calls_with_errors"]])
    for day in report["days"]:
        writer.writerow(["calls per day", day["day"], day["calls"]])
        for lang, name in LANGUAGE_NAMES.items():
            writer.writerow([f"calls per day ({name})", day["day"], day[lang]])
    for lang, name in LANGUAGE_NAMES.items():
        writer.writerow(["language", name, report["languages"][lang]])
    for topic in report["topics"]:
        writer.writerow(["topic chosen (calls)", topic["topic"], topic["calls"]])
        writer.writerow(["topic played", topic["topic"], topic["plays"]])
        writer.writerow(["hung up during summary", topic["topic"], topic["hung_up_during_summary"]])
    for outcome, count in report["transfers"].items():
        writer.writerow(["clinic transfers", outcome.replace("_", " "), count])
    writer.writerow(["calls", "steps not logged", report["steps_not_logged"]])
    for question in report["questions"]:
        writer.writerow(["questions answered", question["entry"], question["asked"]])
    writer.writerow(["questions", "unanswered", report["questions_unanswered"]])
    writer.writerow(["questions", "sounded like an emergency", report["questions_emergency"]])
    for words in report["unanswered_words"]:
        writer.writerow(["unanswered question", words, 1])
    for texts in report.get("text_messages", []):
        for outcome in ("sent", "failed", "waiting"):
            writer.writerow([f"text messages {outcome}", texts["topic"], texts[outcome]])
    for request in report.get("callbacks_open", []):
        writer.writerow(["call back open", f"{request['id']} {request['time']} {LANGUAGE_NAMES[request['lang']]}",
                         "", _emailed(request)])
    writer.writerow(["voicemails", "total", len(report["voicemails"])])
    writer.writerow(["voicemails", "waiting to be e-mailed", sum(not m["emailed_at"] for m in report["voicemails"])])
    for message in report["voicemails"]:
        writer.writerow(["voicemail", f"{message['time']} {LANGUAGE_NAMES[message['lang']]} {message['seconds']} s",
                         message["url"], _emailed(message)])
    return out.getvalue()


def _table(header: list[str], rows: list[list]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for cells in [header, *rows]:
        first, *numbers = cells
        lines.append("  ".join([f"{first:<{widths[0]}}"] + [f"{cell:>{w}}" for cell, w in zip(numbers, widths[1:])]))
    return lines


def _emailed(message: dict) -> str:
    if message["emailed_at"]:
        return f"e-mailed at {message['emailed_at']}"
    return f"not sent yet ({message['not_sent_because']})" if message.get("not_sent_because") else "waiting"


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def as_text(report: dict) -> str:
    since = f"since {report['since']}" if report["since"] else "all calls in the log"
    lines = [f"Kyphoplasty line: {since} (days and times in {report['time_zone']})", ""]

    names = list(LANGUAGE_NAMES.values())
    rows = [[day["day"], day["calls"], *(day[lang] for lang in LANGUAGE_NAMES)] for day in report["days"]]
    rows.append(["Total", report["calls"], *report["languages"].values()])
    lines += _table(["Calls per day", "calls", *names], rows)

    if report["callers"] is None:
        callers = "Different callers: not counted (CALLER_HASH_KEY is not set)."
    else:
        callers = (f"Different callers: {report['callers']}. "
                   f"Calls from someone who had called before: {report['repeat_calls']}.")
    average = report["average_call_seconds"]
    lines += ["", callers + (f" Average call: {_duration(average)}." if average is not None else "")]

    lines += [""] + _table(
        ["Topics, most chosen first", "calls", "plays", "hung up during summary"],
        [[t["topic"], t["calls"], t["plays"], t["hung_up_during_summary"]] for t in report["topics"]],
    )
    transfers = report["transfers"]
    lines += ["", f"Transfers to the clinic: {transfers['answered']} answered, {transfers['missed']} missed. "
                  f"Asked for the clinic after hours: {transfers['after_hours']}."]
    if report["calls_with_errors"]:
        lines.append(f"Calls that heard an apology for an error: {report['calls_with_errors']}.")

    if report["steps_not_logged"]:
        lines.append(f"Call steps not logged (the database was away longer than the line could hold them): "
                     f"{report['steps_not_logged']}.")

    lines += [""] + _table(["Questions asked, by the entry that answered", "asked"],
                           [[q["entry"], q["asked"]] for q in report["questions"]])
    lines.append(f"Questions without an answer: {report['questions_unanswered']}. "
                 f"Questions that sounded like an emergency: {report['questions_emergency']}.")
    if report["unanswered_words"]:
        lines.append("What callers asked that had no answer (QUESTION_LOG=1):")
        lines += [f"  {words}" for words in report["unanswered_words"]]

    if report.get("text_messages"):
        lines += [""] + _table(["Text messages (key 5)", "sent", "failed", "waiting"],
                               [[t["topic"], t["sent"], t["failed"], t["waiting"]] for t in report["text_messages"]])
    if report.get("callbacks_open"):
        lines += ["", f"Open call-back requests: {len(report['callbacks_open'])} "
                      "(numbers: flask --app app callbacks; close one with --done ID)"]
        lines += [f"  {r['id']:>4}  {r['time']}  {LANGUAGE_NAMES[r['lang']]:<7}  {_emailed(r)}"
                  for r in report["callbacks_open"]]

    lines += ["", f"Voicemails: {len(report['voicemails'])}"]
    lines += [f"  {m['time']}  {LANGUAGE_NAMES[m['lang']]:<7}  {_duration(m['seconds']):>10}  {m['url']}  {_emailed(m)}"
              for m in report["voicemails"]]
    return "\n".join(lines) + "\n"
