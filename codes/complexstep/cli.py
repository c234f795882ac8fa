"""What the three stage scripts share: quiet start-up, one-line errors and exit statuses."""

import os
import sys
from collections.abc import Callable

# TensorFlow prints pages of start-up chatter on machines without a GPU; it must be told before
# it is first imported, which is why the scripts import this module first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_FAILURE = 1


class UserError(Exception):
    """A problem with what the user asked for or supplied, reported as one line."""


def run(main: Callable[[], int]) -> None:
    """Runs a script's ``main`` and exits with its status, printing user errors as one line."""
    try:
        status = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        status = EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)
