"""What Twilio accepts, for the verbs this line uses, and a checker for a TwiML answer.

Attribute names are those of Twilio's TwiML reference for each verb (the same names the
twilio SDK's ``voice_response.py`` generates its keyword arguments from); the SSML tags are
those Twilio documents inside <Say> with Amazon Polly voices. The SDK accepts any keyword, so
building through it does not by itself keep a typo out of a response: this does.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

SSML = {"prosody", "s", "break"}
PLAYABLE = {"Say", "Play", "Pause"}
# tag -> (attributes Twilio documents, children it may hold)
ALLOWED = {
    "Response": (set(), {"Say", "Play", "Gather", "Redirect", "Dial", "Record", "Hangup", "Pause"}),
    "Say": ({"voice", "language", "loop"}, SSML),
    "prosody": ({"rate", "pitch", "volume"}, {"s", "break"}),
    "s": (set(), {"break", "prosody"}),
    "break": ({"strength", "time"}, set()),
    "Play": ({"loop", "digits"}, set()),
    "Pause": ({"length"}, set()),
    "Gather": ({"input", "action", "method", "timeout", "speechTimeout", "maxSpeechTime", "profanityFilter",
                "finishOnKey", "numDigits", "partialResultCallback", "partialResultCallbackMethod", "language",
                "hints", "bargeIn", "debug", "actionOnEmptyResult", "speechModel", "enhanced"}, PLAYABLE),
    "Redirect": ({"method"}, set()),
    "Dial": ({"action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId", "record", "trim",
              "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent",
              "answerOnBridge", "ringTone", "recordingTrack", "sequential", "referUrl", "referMethod", "events"},
             {"Number"}),
    "Number": ({"sendDigits", "url", "method", "statusCallbackEvent", "statusCallback", "statusCallbackMethod",
                "byoc", "machineDetection", "amdStatusCallbackMethod", "amdStatusCallback",
                "machineDetectionTimeout", "machineDetectionSpeechThreshold",
                "machineDetectionSpeechEndThreshold", "machineDetectionSilenceTimeout"}, set()),
    "Record": ({"action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
                "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent",
                "transcribe", "transcribeCallback"}, set()),
    "Hangup": (set(), set()),
}
# Values Twilio rejects the whole document for, when they are wrong.
VALUES = {
    "method": re.compile(r"GET|POST"),
    "input": re.compile(r"dtmf|speech|dtmf speech|speech dtmf"),
    "timeout": re.compile(r"\d+"), "numDigits": re.compile(r"[1-9]\d*"), "maxLength": re.compile(r"\d+"),
    "length": re.compile(r"\d+"), "loop": re.compile(r"\d+"), "speechTimeout": re.compile(r"auto|\d+"),
    "finishOnKey": re.compile(r"[0-9*#]*"), "playBeep": re.compile(r"true|false"),
    "actionOnEmptyResult": re.compile(r"true|false"), "language": re.compile(r"[a-z]{2}-[A-Z]{2}"),
    "voice": re.compile(r"man|woman|alice|Polly\.[A-Za-z]+(-Neural|-Generative)?|Google\.[-\w]+"),
    "rate": re.compile(r"x-slow|slow|medium|fast|x-fast|\d{1,3}%"),
}
E164 = re.compile(r"\+[1-9]\d{1,14}")
# Attributes whose value is a URL Twilio requests next, and the method it uses.
CALLBACKS = {"action", "recordingStatusCallback", "statusCallback", "transcribeCallback", "url"}


def problems(body: bytes, app, public_host: str) -> list[str]:
    """Everything in one answer that Twilio would reject or that leads nowhere."""
    root = ET.fromstring(body)
    found = [] if root.tag == "Response" else [f"root is <{root.tag}>, not <Response>"]
    adapter = app.url_map.bind(public_host, url_scheme="https")

    def resolves(url: str, method: str) -> str | None:
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != public_host:
            return None  # another host, e.g. audio on a CDN
        try:
            adapter.match(parts.path, method=method)
        except RequestRedirect as redirect:
            return f"{url} redirects to {redirect.new_url}"
        except HTTPException as error:
            return f"{method} {url} does not resolve to a route of the app ({error.code})"
        return None

    def check(element: ET.Element, parent: str | None) -> None:
        tag = element.tag
        if tag not in ALLOWED:
            found.append(f"<{tag}> is not a verb Twilio documents here")
            return
        attributes, children = ALLOWED[tag]
        if parent is not None and tag not in ALLOWED[parent][1]:
            found.append(f"<{tag}> may not be inside <{parent}>")
        for name, value in element.attrib.items():
            if name not in attributes:
                found.append(f"<{tag} {name}=...> is not an attribute Twilio documents")
            elif name in VALUES and not VALUES[name].fullmatch(value):
                found.append(f'<{tag} {name}="{value}"> is not a value Twilio accepts')
            elif name in CALLBACKS and (error := resolves(value, element.get("method", "POST"))):
                found.append(f"<{tag} {name}>: {error}")
        text = (element.text or "").strip()
        if tag == "Redirect" and (error := resolves(text, element.get("method", "POST"))):
            found.append(f"<Redirect>: {error}")
        if tag == "Play" and (error := resolves(text, "GET")):
            found.append(f"<Play>: {error}")
        if tag == "Number" and not E164.fullmatch(text):
            found.append(f"<Number>{text}</Number> is not an E.164 number")
        if tag == "Say" and not "".join(element.itertext()).strip():
            found.append("<Say> says nothing")
        for child in element:
            check(child, tag)

    check(root, None)
    return found
