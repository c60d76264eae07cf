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

import re

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

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
    return render_template("preview.html", dial_outcomes=list(DIAL_OUTCOMES), rejected=scripts.rejected,
                           version=scripts.current)


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
