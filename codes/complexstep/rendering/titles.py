"""Titles that name a file: drawn as written, whatever the name holds.

matplotlib reads ``$...$`` in a text as math and fails on an unknown command (``d_bad$\\foo$``),
hands the text to TeX where ``text.usetex`` is set, and cannot draw the surrogates Python keeps
for bytes that are not UTF-8. A title naming a file is therefore drawn as plain text, its
undecodable bytes written as escapes (``io.names.printable``).
"""

from matplotlib.axes import Axes
from matplotlib.figure import FigureBase
from matplotlib.text import Text

from complexstep.io.names import printable

PLAIN_TEXT = {"parse_math": False, "usetex": False}
"""Text options that make matplotlib draw a text character for character."""


def draw_title(target: Axes | FigureBase, text: str, **options) -> Text:
    """Titles an axes, or a figure above all its axes, with text drawn as written.

    Args:
        target: the axes or the figure.
        text: the title; it may hold any file name.
        **options: further ``Text`` options, such as ``fontsize``.

    Returns:
        The title's ``Text``.
    """
    if isinstance(target, FigureBase):
        return target.suptitle(printable(text), **PLAIN_TEXT, **options)
    return target.set_title(printable(text), **PLAIN_TEXT, **options)
