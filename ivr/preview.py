"""The preview page: a phone keypad in the browser for staff, walking the real call flow.

Registered only with IVR_PREVIEW=1 or in dev mode (IVR_DEV_INSECURE=1); in production the
routes do not exist (404). The page has no login, so it belongs on a laptop or a staging copy.

The browser never calls the webhooks itself: /preview/step runs one step of a simulated
call on the server (ivr/simulator.py), which POSTs to the real webhooks signed with the
app's own token, so their signature check stays exactly as strict. The call's state (what
the line waits on) travels to the browser and back; URLs in it are checked to be the line's
own webhooks before they are requested.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import replace

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from . import timing
from .checks import SUMMARY_BUDGET, spoken_seconds
from .script import BACK_KEY, CLINIC_KEY, KEYPAD, LANGUAGE_NAMES, LANGUAGES, SWITCH_KEY, Menus, Script
from .script_store import ScriptStore, read_sources
from .script_yaml import ordered, shown
from .simulator import DIAL_OUTCOMES, PhoneLine, SimulationError

bp = Blueprint("preview", __name__)

CALL_SID = re.compile(r"CA[0-9a-f]{32}")


@bp.get("/")
def home():
    """Where `make run` sends a newcomer: the address the server prints leads to the preview."""
    return redirect(url_for("preview.page"))


@bp.get("/preview")
def page():
    # Staff reload this page after an edit: look at the files now, not within the second.
    scripts = current_app.extensions["ivr.scripts"]
    scripts.refresh(force=True)
    version = scripts.current
    script = scripts.get(version)[1]
    return render_template("preview.html", dial_outcomes=list(DIAL_OUTCOMES), rejected=scripts.rejected,
                           state=scripts.state, warnings=[str(replace(p, file=shown(p.file)))
                                                          for p in ordered(scripts.warnings.get(version, []))],
                           changes=changes(scripts), keys=working_keys(script), timing=seconds_to_summaries(script),
                           summary_budget=SUMMARY_BUDGET)


def changes(scripts: ScriptStore) -> tuple[str, list[tuple[str, str]]]:
    """What changed since the last good version, as (a heading, lines marked "-", "+" or "@")."""
    current = scripts.sources.get(scripts.current, {})
    if scripts.rejected:
        heading = "Not playing: how the files differ from the version callers hear"
        before, after = current, read_sources(scripts.menus_dir)
    elif scripts.previous():
        heading = "Playing since your last edit: how it differs from the version before"
        before, after = scripts.sources.get(scripts.previous(), {}), current
    else:
        return "No change since the line started.", []
    lines = []
    for name in sorted(set(before) | set(after)):
        diff = difflib.unified_diff(before.get(name, "").splitlines(), after.get(name, "").splitlines(), n=0,
                                    lineterm="")
        for line in diff:
            if line.startswith(("---", "+++")):
                continue
            if line.startswith("@@"):
                number = int(line.split("+")[1].split(",")[0].split()[0])
                lines.append(("@", f"{name}, line {max(number, 1)}:"))
            else:
                lines.append((line[0], line[1:]))
    return heading, lines


# What a key does, by where the scripts send it (menus.yaml's goes_to).
_ACTIONS = {"voicemail": "leave a message for the clinic (where the menu offers it)",
            "slower": "hear the summary or answer again, more slowly",
            "again": "hear the summary or answer again"}


def working_keys(script: Script) -> list[tuple[str, str]]:
    """The keys of the line and what each does: the key map every menu follows, from the scripts."""
    keys = [(key, f"{option.say.en} (from every menu, also during and after a summary or an answer)")
            for key, option in script.menu("topics").options.items() if option.goes_to in script.summaries]
    keys.append((SWITCH_KEY, "the other language (English or Spanish), from every menu"))
    actions = {key: option.goes_to for menu_id in Menus.model_fields
               for key, option in script.menu(menu_id).options.items() if option.goes_to in _ACTIONS}
    keys += [(key, _ACTIONS[goes_to]) for key, goes_to in sorted(actions.items())]
    if "5" not in dict(keys):
        keys.append(("5", "get it by text message, or a call back from the clinic (only where the line offers it)"))
    keys += [(CLINIC_KEY, "the clinic (when it is closed or busy: leave a message)"),
             (BACK_KEY, "back one step (after an answer: the topics)")]
    if "9" not in dict(keys):
        keys.append(("9", 'never a choice: the caller hears "For emergencies, hang up and dial 9 1 1." and the '
                          "same menu again"))
    keys.append(("#", "ends a message being recorded"))
    return sorted(keys, key=lambda pair: KEYPAD.index(pair[0]))


def seconds_to_summaries(script: Script) -> list[dict]:
    """Seconds from the first word of a call to the first word of each summary, by caller and language,
    with the budgets (ivr/timing.py, as make check and make bench count them)."""
    rows = []
    for returning, first_budget, every_budget in (
            (False, timing.FIRST_TOPIC_BUDGET, timing.EVERY_TOPIC_BUDGET),
            (True, timing.RETURNING_FIRST_TOPIC_BUDGET, timing.RETURNING_EVERY_TOPIC_BUDGET)):
        by_lang = {lang: timing.time_to_information(script, lang, returning) for lang in LANGUAGES}
        for n, topic in enumerate(timing.topic_keys(script)):
            budget = first_budget if n == 0 else every_budget
            rows.append({"caller": "returning" if returning else "first-time", "topic": topic, "budget": budget,
                         "seconds": {LANGUAGE_NAMES[lang]: round(by_lang[lang][topic], 1) for lang in LANGUAGES},
                         "length": {LANGUAGE_NAMES[lang]: round(spoken_seconds(script.text(f"summary.{topic}", lang)))
                                    for lang in LANGUAGES}})
    return rows


@bp.post("/preview/step")
def step():
    """Start a call (no body) or answer what the line waits on: {"answer", "wait", "rest", "call_sid"}."""
    data = request.get_json(silent=True) or {}
    line = PhoneLine(current_app._get_current_object())
    if CALL_SID.fullmatch(str(data.get("call_sid", ""))):
        line.call["CallSid"] = data["call_sid"]
    try:
        if "answer" not in data:
            turn = line.start()
        elif isinstance(data.get("answer"), dict) and isinstance(data.get("wait"), dict) \
                and isinstance(data.get("rest"), list):
            turn = line.respond(data["wait"], data["rest"], data["answer"])
        else:
            return jsonify(error="expected answer, wait and rest"), 400
    except (SimulationError, KeyError, TypeError, AttributeError) as error:
        return jsonify(error=f"the preview cannot go on: {error}"), 400
    return jsonify(turn.to_json() | {"call_sid": line.call["CallSid"]})
