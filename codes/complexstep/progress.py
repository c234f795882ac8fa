"""Progress bars for calls made from a notebook or a terminal, through tqdm where it is installed.

The library reports progress through callbacks of one shape, ``Progress``, and never prints; a
user who asks for progress with ``show_progress=True`` gets a tqdm bar, a widget in Jupyter and a
line on standard error elsewhere. tqdm is optional: without it the request shows nothing rather
than failing, since a missing bar should never stop a computation.
"""

import warnings
from typing import Protocol


class Progress(Protocol):
    """What every long call of the library reports its progress to.

    It is called with the work done so far and the work in all, in the call's units (passes,
    maps, micrographs, batches), and with what is being worked on where the call knows it: a
    micrograph's name, a method, an epoch's losses. A function of two arguments serves where
    the call's documentation says it gives none.
    """

    def __call__(self, done: int, total: int, detail: str = "") -> None: ...


class Tally:
    """Counts work done towards a ``Progress``: what a long call hands to the parts that do the
    work, which know how much they did, not how much there is in all.

    Args:
        total: the work in all, in the call's units.
        on_progress: told of every step, or None to count silently.
    """

    def __init__(self, total: int, on_progress: Progress | None = None):
        self.total, self.done = total, 0
        self.on_progress = on_progress

    def add(self, units: int, detail: str = "") -> None:
        """Counts ``units`` more done, on what ``detail`` names, and reports the count."""
        self.done += units
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, detail)

    def skip(self, units: int) -> None:
        """Counts ``units`` that will not be done (a file that could not be read), silently: the
        count moves on at the next step reported."""
        self.done += units


def tqdm_progress(description: str, units: str = "passes", starting: str = "") -> Progress | None:
    """A progress callback that draws a ``tqdm.auto`` bar, or None where tqdm is not installed.

    The bar opens at the first report, with its total, and closes when the count reaches it. Its
    rate counts from that first report, which the library's calls make before any work, so that
    the time a first call spends building and compiling is in the rate it shows.

    Args:
        description: the bar's label.
        units: what is counted.
        starting: what the bar says while nothing is done yet and no detail was given: the
            work that comes before the first unit.

    Returns:
        A ``Progress`` that shows its detail beside the bar, or None.
    """
    try:
        with warnings.catch_warnings():
            # Without ipywidgets, tqdm.auto falls back to a text bar in Jupyter and warns about
            # it; the text bar serves, so the warning would only clutter the notebook.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = None
    shown = ""

    def on_progress(done: int, total: int, detail: str = "") -> None:
        nonlocal bar, shown
        if not detail and done == 0:
            detail = starting
        if bar is None:
            bar = tqdm(total=total, desc=description, unit=units, postfix=detail or None)
            shown = detail
        if detail != shown:
            # A detail stands until another replaces it: the first call's "building the
            # twin" must not stay beside the passes that follow it.
            bar.set_postfix_str(detail, refresh=done == bar.n)
            shown = detail
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return on_progress
