"""The record in flight, for ``kiosk status``: bytes sent of total and the rate of the last minute.

The uploader is its own process (``kiosk upload``); ``kiosk status`` runs in another, over
SSH, often while a slow link is carrying a record. The uploader rewrites one small file,
``<data_dir>/upload-progress.json``, at most every :data:`WRITE_EVERY_S` seconds (temp file,
rename; no fsync, ``write_atomic(durable=False)``: it says how a transfer is going, it is
not a record, and the SD card should not pay for it), and deletes it when the record is
acknowledged or the uploader stops. It names the record id and byte counts only, never
anything about the citizen.

Fields: ``record_id``, ``bytes_total``, ``bytes_sent`` (the furthest byte handed to the
link), ``bytes_kept`` (what the intake said it holds, at its last answer),
``rate_bps`` (bytes sent over the last :data:`RATE_WINDOW_S` seconds, divided by the time
covered), ``started_at``/``updated_at`` (UTC ISO 8601) and ``pid``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.fsutil import sweep_temporaries, write_atomic

PROGRESS_FILE = "upload-progress.json"
WRITE_EVERY_S = 1.0
RATE_WINDOW_S = 60.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class ProgressFile:
    """What the uploader reports while it sends; thread-unsafe (one uploader thread)."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = Path(data_dir) / PROGRESS_FILE
        # What an uploader killed mid-write (a power cut) left beside the file.
        sweep_temporaries(self.path)
        self._clock = clock
        self._wall = wall
        self._record: str | None = None
        self._total = self._sent = self._kept = 0
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic, bytes sent so far)
        self._moved = 0  # bytes sent of this record, counted over every attempt
        self._started = 0.0
        self._written = float("-inf")

    def start(self, record_id: str, total: int, kept: int) -> None:
        """A record's upload begins (or resumes) with the intake holding ``kept`` bytes."""
        if record_id != self._record:
            self._record, self._samples, self._moved = record_id, deque(), 0
            self._started = self._wall()
        # a new attempt sends from the intake's offset
        self._total, self._kept, self._sent = total, kept, kept
        self._tick(force=True)

    def sent(self, position: int) -> None:
        """The body has been handed to the link up to ``position``."""
        if position > self._sent:
            self._moved += position - self._sent
        self._sent = position
        self._tick()

    def kept(self, offset: int) -> None:
        """The intake answered that it holds ``offset`` bytes."""
        self._kept = offset
        self._sent = max(self._sent, offset)
        self._tick()

    def done(self) -> None:
        """The record is acknowledged, or the uploader stops: nothing is in flight."""
        self._record = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        while self._samples and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        rate = None
        if self._samples:
            first_t, first_moved = self._samples[0]
            span = now - first_t
            if span >= 1.0:
                rate = (self._moved - first_moved) / span
        return {"record_id": self._record, "bytes_total": self._total,
                "bytes_sent": self._sent, "bytes_kept": self._kept,
                "rate_bps": None if rate is None else round(rate, 1),
                "started_at": _iso(self._started), "updated_at": _iso(self._wall()),
                "pid": os.getpid()}

    def _tick(self, *, force: bool = False) -> None:
        now = self._clock()
        if not self._samples or now - self._samples[-1][0] >= 1.0:
            self._samples.append((now, self._moved))
        if self._record is None or (not force and now - self._written < WRITE_EVERY_S):
            return
        self._written = now
        # a full disk must not stop an upload for a status line (nor leave a temp file)
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(self.snapshot(), sort_keys=True).encode(),
                         0o600, overwrite=True, durable=False)


def read_progress(data_dir: Path) -> dict[str, Any] | None:
    """The uploader's last report, or None when no record is in flight (no file, an
    unreadable one, or one left by an uploader that is no longer running)."""
    path = Path(data_dir) / PROGRESS_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int):
        return None
    try:
        os.kill(doc["pid"], 0)
    except ProcessLookupError:
        return None  # killed without cleaning up: nothing is moving
    except PermissionError:
        pass  # running as another user (status run by a maintainer): it is alive
    return doc
