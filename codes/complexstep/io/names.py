"""File names as text: any name a file system allows, written where text must be valid UTF-8.

On Linux a file name is any bytes. Python decodes the bytes that are not UTF-8 into lone
surrogates (``os.fsdecode``'s surrogateescape), which no UTF-8 writer accepts, so CSV, JSON, HTML
and Markdown files, and titles, name a file by ``printable``: its undecodable bytes written as
Python writes them, ``\\xff``, and everything else as it is.
"""

import os


def printable(name: str | bytes | os.PathLike) -> str:
    """A file name, or text holding one, as printable text.

    Args:
        name: a name or path as Python gives it (undecodable bytes kept as surrogates), or its
            bytes.

    Returns:
        The text, each byte that is not UTF-8 written as a ``\\xNN`` escape; a name that is
        valid UTF-8 is returned unchanged.
    """
    return os.fsencode(name).decode("utf-8", "backslashreplace")
