"""The benchmarks behind README's table of results (``python benchmarks/run.py [NAME ...]``)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def print_report(result: dict[str, Any], rows: Callable[[dict[str, Any]], list[str]]) -> None:
    """A benchmark run by itself: every measurement as JSON, then its rows of README's table."""
    print(json.dumps(result, indent=2))
    print("\n".join(rows(result)))


def evict(path: Path) -> None:
    """Flush ``path`` and drop its pages (only this file's) from the page cache, so the next
    read comes from the disk, as on a kiosk that has not read it lately. A missing file is
    nothing to evict."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
