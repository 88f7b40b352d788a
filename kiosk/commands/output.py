"""What every ``kiosk`` verb shares: printing a result as JSON (``--json``) or for a
person. Its exit statuses are :mod:`kiosk.core.exits`' (shared with ``kiosk-intake``).

For a person, :func:`person_console`: rich already draws its tables in ASCII on an output
that is not UTF-8 (``LANG=C``, ``PYTHONIOENCODING=latin-1``); :func:`holdable` makes sure
nothing else it prints (rich's ellipsis, a detail as the device or the intake said it) is a
character the output's encoding cannot hold: a ``?`` in its place, never a traceback.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

from rich.console import Console

from kiosk.core.exits import EXIT_OK

T = TypeVar("T")

# What a table or a message may hold, in the ASCII an output without them can show.
_ASCII_FOR = str.maketrans({"\u2026": "...", "\u2013": "-", "\u2014": "-", "\u2192": "->",
                            "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


class _Holdable:
    """``stream`` writing only what its encoding can hold (the rest as ASCII, or ``?``)."""

    def __init__(self, stream: IO[str], encoding: str) -> None:
        self._stream = stream
        self._encoding = encoding

    def write(self, text: str) -> int:
        try:
            text.encode(self._encoding)
        except UnicodeEncodeError:
            text = text.translate(_ASCII_FOR).encode(self._encoding, "replace").decode(
                self._encoding)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding: the stream's
        return getattr(self._stream, name)


def holdable(stream: IO[str] | None = None) -> IO[str]:
    """``stream`` (stdout) as is on a UTF output; else one that never raises
    :class:`UnicodeEncodeError` for a character its encoding cannot hold."""
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        if codecs.lookup(encoding).name.startswith("utf"):
            return stream
    except LookupError:
        encoding = "ascii"
    return _Holdable(stream, encoding)  # type: ignore[return-value]


def person_console(stream: IO[str] | None = None) -> Console:
    """A rich console on ``stream`` (stdout) for a person: ASCII tables and no character
    the output cannot hold on a non-UTF-8 output; no colour guessed for a pipe."""
    return Console(file=holdable(stream), highlight=False)


def show(value: T, as_json: bool, render: Callable[[T, Console], Any], *,
         sort_keys: bool = False) -> int:
    """Print ``value`` on stdout as indented JSON, or through ``render`` (with
    :func:`person_console`) for a person; :data:`EXIT_OK`."""
    if as_json:
        print(json.dumps(value, indent=2, sort_keys=sort_keys))
    else:
        render(value, person_console())
    return EXIT_OK
