"""A phone call without a phone, for staff: ``flask --app app simulate`` and the /preview page.

It drives the line's real webhooks through Flask's test client, with requests signed as
Twilio signs them, and reads each TwiML answer the way Twilio acts on it: say and play in
order, follow Redirects, stop where the line waits for the caller (Gather, Dial, Record).
Nothing is dialled and no network is used.

The state between two steps is a ``Turn`` (what the line waits on and the verbs after it),
plain data, so the preview page can keep it in the browser: the server keeps nothing.

A simulated call is not a call: its requests carry SIMULATED_CALL in their WSGI environ and
the call log (ivr/calllog.py) leaves them out, so staff trying the line never show up in
the clinic's report.
"""
from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from . import flow
from .script import KEYPAD, LANGUAGE_MENU, SWITCH_KEY

# Twilio goes to the clinic's action with one of these (DialCallStatus); "answered" is the
# clinic picking up, which Twilio reports as "completed" when that call ends.
DIAL_OUTCOMES = {"answered": "completed", "no-answer": "no-answer", "busy": "busy", "failed": "failed"}
RECORD_OUTCOMES = ("message", "nothing")
SIMULATED_MESSAGE_SECONDS = 12
# A line that redirects this often without waiting for the caller is stuck in a loop.
MAX_REDIRECTS = 10
# In the environ, not a header: no request from outside can set it (headers arrive as HTTP_*).
SIMULATED_CALL = "ivr.simulated_call"


class SimulationError(Exception):
    """The line answered something a phone call cannot go on with."""


@dataclass
class Turn:
    """What the caller heard since their last action, and what the line waits for now."""

    heard: list[dict] = field(default_factory=list)  # {"verb": "say", "language", "text"} or {"verb": "play", "url"}
    wait: dict | None = None  # the Gather, Dial or Record the line waits on; None: the call has ended
    rest: list[dict] = field(default_factory=list)  # verbs after it: what happens on silence / no recording
    keys: list[str] = field(default_factory=list)  # keys that do something at this Gather

    def to_json(self) -> dict:
        return asdict(self)


def read_twiml(body: bytes) -> list[dict]:
    """The verbs of one TwiML answer, as plain data."""
    return [_verb(element) for element in ET.fromstring(body)]


def _verb(element: ET.Element) -> dict:
    words = " ".join(" ".join(element.itertext()).split())
    match element.tag:
        case "Say":
            return {"verb": "say", "language": element.get("language", ""), "text": words}
        case "Play":
            return {"verb": "play", "url": words}
        case "Gather":
            return {"verb": "gather", "action": element.get("action"), "language": element.get("language", ""),
                    "heard": [_verb(child) for child in element]}
        case "Dial":
            return {"verb": "dial", "action": element.get("action"), "number": words}
        case "Record":
            return {"verb": "record", "action": element.get("action"), "max_length": element.get("maxLength")}
        case "Redirect":
            return {"verb": "redirect", "url": words}
        case "Hangup":
            return {"verb": "hangup"}
    return {"verb": element.tag.lower()}  # e.g. Pause: nothing to hear


class PhoneLine:
    """One simulated call to ``app``, signed with the app's own Twilio token."""

    def __init__(self, app: Flask):
        self.app = app
        self.client = app.test_client()
        self.client.environ_base[SIMULATED_CALL] = True
        self.validator = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])
        self.base_url = app.config["PUBLIC_BASE_URL"].rstrip("/") or "http://localhost"
        self.call = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32,
                     "From": "+15005550006", "To": "+15005550006", "CallStatus": "in-progress",
                     "Direction": "inbound"}

    def start(self) -> Turn:
        """The phone rings: Twilio's incoming-call webhook."""
        return self.run(self.fetch("/voice", {}))

    def respond(self, wait: dict, rest: list[dict], answer: dict) -> Turn:
        """The caller's answer to ``wait``: {"press": "2"}, {"say": "words"}, {"silence": True},
        {"dial": "no-answer"} (see DIAL_OUTCOMES) or {"record": "message" | "nothing"}."""
        kind = wait["verb"]
        if kind == "gather" and answer.get("press"):
            return self.run(self.fetch(wait["action"], {"Digits": answer["press"]}))
        if kind == "gather" and answer.get("say"):
            return self.run(self.fetch(wait["action"], {"SpeechResult": answer["say"], "Confidence": "0.9"}))
        if kind == "dial" and wait.get("action"):
            status = DIAL_OUTCOMES[answer.get("dial") or "no-answer"]
            params = {"DialCallStatus": status, "DialCallDuration": "60" if status == "completed" else "0"}
            return self.run(self.fetch(wait["action"], params))
        if kind == "record" and answer.get("record") == "message":
            params = {"RecordingUrl": "https://api.twilio.com/simulated/RE" + "0" * 32,
                      "RecordingSid": "RE" + "0" * 32, "RecordingDuration": str(SIMULATED_MESSAGE_SECONDS)}
            return self.run(self.fetch(wait["action"], params))
        # Silence at a Gather, nothing recorded: Twilio goes on with the verbs after it.
        return self.run(list(rest))

    def run(self, verbs: list[dict]) -> Turn:
        """Act on verbs as Twilio does, until the line waits for the caller or the call ends."""
        turn, redirects = Turn(), 0
        while verbs:
            verb, verbs = verbs[0], verbs[1:]
            match verb["verb"]:
                case "say" | "play":
                    turn.heard.append(verb)
                case "gather":
                    turn.heard += verb["heard"]
                    # A summary, then its menu: a caller who lets the summary play hears the menu
                    # (the next Gather, same menu: the summary's action only adds playing=1).
                    while verbs and verbs[0]["verb"] == "gather" and \
                            verbs[0]["action"] == verb["action"].replace("&playing=1", ""):
                        verb, verbs = verbs[0], verbs[1:]
                        turn.heard += verb["heard"]
                    turn.wait, turn.rest, turn.keys = verb, verbs, self.keys_at(verb["action"])
                    return turn
                case "dial" | "record":
                    turn.wait, turn.rest = verb, verbs
                    return turn
                case "redirect":
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise SimulationError(f"the line redirected {MAX_REDIRECTS} times without waiting")
                    verbs = self.fetch(verb["url"], {})
                case "hangup":
                    return turn
        return turn  # the end of a TwiML answer hangs up, as on a real call

    def fetch(self, url: str, params: dict) -> list[dict]:
        """POST to one of the line's webhooks as Twilio would, signed."""
        path = self._webhook_path(url)
        params = {**self.call, **params}
        signature = self.validator.compute_signature(self.base_url + path, params)
        response = self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        if response.status_code != 200:
            raise SimulationError(f"{path} answered HTTP {response.status_code}")
        return read_twiml(response.data)

    def _webhook_path(self, url: str) -> str:
        """Only the line's own webhooks: URLs may come back from a browser (the preview page)."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            endpoint, _ = self.app.url_map.bind("localhost").match(parts.path, method="POST")
        except HTTPException:
            endpoint = None
        if parts.scheme or parts.netloc or not (endpoint or "").startswith("ivr."):
            raise SimulationError(f"not one of the line's webhooks: {url}")
        return path

    def keys_at(self, action: str | None) -> list[str]:
        """Keys that do something at the menu a Gather's ``action`` answers."""
        parts = urlsplit(action or "")
        try:
            endpoint, view_args = self.app.url_map.bind("localhost").match(parts.path, method="POST")
        except HTTPException:
            return []
        if endpoint != "ivr.choose":
            return []
        args = {k: v[0] for k, v in parse_qs(parts.query).items()}
        _, script = self.app.extensions["ivr.scripts"].get(args.get("v"))
        at, lang = flow.position(script, view_args["at"], flow.parse_lang(args.get("lang")))
        if at == LANGUAGE_MENU:
            keys = set(script.language_menu) | {"0"}
        else:
            keys = set(script.menu(flow.menu_id(script, at)).options) | {"0", "*"}
        if at != LANGUAGE_MENU and lang is not None:
            # Once a language is chosen, the topic keys and the other language work in every menu.
            keys |= set(script.menu("topics").options) | {SWITCH_KEY}
        return sorted(keys, key=KEYPAD.index)

    def language_key(self, lang: str) -> str:
        _, script = self.app.extensions["ivr.scripts"].get(None)
        return next(key for key, option in script.language_menu.items() if option.language == lang)
