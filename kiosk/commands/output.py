"""What every ``kiosk`` verb shares: its exit statuses, and printing a result as JSON
(``--json``) or for a person.

Exit status: 0 done; 1 failed (the reason on stderr); 2 configuration or usage error;
3 the kiosk is not accepting enrollments (power, disk, journal, keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_NOT_ACCEPTING = 0, 1, 2, 3

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
