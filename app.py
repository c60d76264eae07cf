"""Entry point: ``flask --app app run`` or ``gunicorn app:app``."""
import sys

from ivr import create_app
from ivr.script_yaml import ScriptError

try:
    app = create_app()
except ScriptError as error:
    # Staff may read this: the file:line messages of make check, not a traceback.
    sys.exit(f"{error.for_staff()}\nThe line does not start with scripts that have errors: fix them "
             "(make check shows them all) and start it again.")
