"""The yardsticks for ``make bench``: Flask answering every POST with one constant TwiML string.

``app`` does what any Flask + Twilio app must do (take the request, answer TwiML built with the
SDK) and nothing of ours. ``signed_app`` also checks Twilio's signature the way Twilio's own
Flask example does, to show what that check alone costs. Both accept every path, so that they
get exactly the same requests as the real line.
"""
import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

_response = VoiceResponse()
_response.gather(input="dtmf speech", action="/voice", num_digits=1).say(
    "For English, press 1 or say English.", voice="Polly.Joanna-Neural", language="en-US")
_response.redirect("/voice")
TWIML = str(_response)


def constant(anything=None):
    return Response(TWIML, mimetype="text/xml")


def check_signature():
    url = os.environ["PUBLIC_BASE_URL"] + request.full_path.rstrip("?")
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        abort(403)


app = Flask(__name__)
signed_app = Flask(__name__)
signed_app.before_request(check_signature)
for each in (app, signed_app):
    each.add_url_rule("/voice", view_func=constant, methods=["POST"])
    each.add_url_rule("/<path:anything>", view_func=constant, methods=["POST"])
