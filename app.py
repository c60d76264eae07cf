"""Entry point: ``flask --app app run`` or ``gunicorn app:app``."""
import sys

import click

from ivr import SettingsError, create_app
from ivr.script_yaml import ScriptError


def serves_calls() -> bool:
    """gunicorn and ``flask run`` answer calls; other flask commands (report, build-audio ...) do not."""
    command = click.get_current_context(silent=True)
    return command is None or command.info_name == "run"


try:
    app = create_app({"SERVES_CALLS": serves_calls()})
except ScriptError as error:
    # Staff may read this: the file:line messages of make check, not a traceback.
    sys.exit(f"{error.for_staff()}\nThe line does not start with scripts that have errors, and no earlier "
             "version passed check here: fix them (make check shows them all) and start it again.")
except SettingsError as error:
    # An on-call engineer reads this: what to set, not a traceback.
    sys.exit(f"The line does not start: {error}")
