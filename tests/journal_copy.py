"""Read a journal a killed kiosk left behind without touching it.

Opening the crashed ``journal.db`` itself, even only to look, would replay and checkpoint
its WAL (a read-write connection does so when it closes) and rewrite the shared-memory
index: the kiosk's own next start would then never meet the crash it must recover from.
These helpers copy db, WAL and index to a scratch directory and read the copy.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOURNAL_FILES = ("journal.db", "journal.db-wal", "journal.db-shm")


def files_state(data_dir: Path) -> dict[str, str]:
    """SHA-256 of each journal file present: to show that a check changed nothing."""
    return {name: hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
            for name in JOURNAL_FILES if (data_dir / name).exists()}


@contextmanager
def journal_copy_path(data_dir: Path) -> Iterator[Path]:
    """The path of a copy of ``data_dir``'s journal files as they stand (take it while no
    kiosk process runs); the copy is deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="journal-copy-") as scratch:
        for name in JOURNAL_FILES:
            if (data_dir / name).exists():
                shutil.copyfile(data_dir / name, Path(scratch) / name)
        yield Path(scratch) / "journal.db"


@contextmanager
def journal_copy(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a copy of the journal; SQLite replays the copied WAL into the copy."""
    with journal_copy_path(data_dir) as path:
        conn = sqlite3.connect(path)
        try:
            yield conn
        finally:
            conn.close()
