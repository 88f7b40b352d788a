"""What every ``kiosk`` verb shares: printing a result as JSON (``--json``) or for a
person. Its exit statuses are :mod:`kiosk.core.exits`' (shared with ``kiosk-intake``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from kiosk.core.exits import EXIT_OK

T = TypeVar("T")


def show(value: T, as_json: bool, render: Callable[[T], Any], *,
         sort_keys: bool = False) -> int:
    """Print ``value`` on stdout as indented JSON, or through ``render`` for a person;
    :data:`EXIT_OK`."""
    if as_json:
        print(json.dumps(value, indent=2, sort_keys=sort_keys))
    else:
        render(value)
    return EXIT_OK
