"""The benchmarks behind README's table of results (``python benchmarks/run.py [NAME ...]``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def print_report(result: dict[str, Any], rows: Callable[[dict[str, Any]], list[str]]) -> None:
    """A benchmark run by itself: every measurement as JSON, then its rows of README's table."""
    print(json.dumps(result, indent=2))
    print("\n".join(rows(result)))
