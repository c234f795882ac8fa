"""What the three stage scripts share: quiet start-up, one-line errors and exit statuses."""

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

# TensorFlow prints pages of start-up chatter on machines without a GPU; it must be told before
# it is first imported, which is why the scripts import this module first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_FAILURE = 1
T = TypeVar("T")


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


def progress(items: Sequence[T], label: str, unit: str = "image") -> Iterator[T]:
    """Yields ``items`` while keeping a one-line progress bar on standard error.

    On a terminal the line is redrawn in place; in a log it is printed at every tenth of the
    work, so that long runs show they are alive without flooding the file.
    """
    total = len(items)
    interactive = sys.stderr.isatty()
    start = time.monotonic()
    last_tenth = -1
    for done, item in enumerate(items):
        yield item
        tenth = (done + 1) * 10 // max(total, 1)
        if interactive or tenth != last_tenth or done + 1 == total:
            last_tenth = tenth
            elapsed = time.monotonic() - start
            remaining = elapsed / (done + 1) * (total - done - 1)
            filled = (done + 1) * _BAR_WIDTH // max(total, 1)
            bar = "=" * filled + " " * (_BAR_WIDTH - filled)
            line = (
                f"{label} [{bar}] {done + 1}/{total} {unit}s, "
                f"{elapsed:.0f}s elapsed, {remaining:.0f}s left"
            )
            end = "\n" if not interactive or done + 1 == total else ""
            print(f"\r{line}" if interactive else line, end=end, file=sys.stderr, flush=True)


_BAR_WIDTH = 30
