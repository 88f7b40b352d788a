"""Where one ``kiosk-intake serve`` keeps its metadata: the one interface the server uses.

A backend is three parts: the tus ``storage`` (upload rows and offsets; upload bytes are
always files in ``DIR/tus/uploads``), the store's ``metadata`` (records, refusals,
counters, processed uploads; packets and receipts are always files in ``DIR/records``), and
the tus server's per-upload ``locks``.

* :class:`SQLiteBackend` (the default, a district laptop): ``DIR/tus/uploads.db`` and
  ``DIR/intake.db``, the library's in-memory lock; one serving process per directory
  (``shared`` is False: the server holds ``DIR/intake.lock`` exclusively).
* :class:`intake.pg.PostgresBackend` (``--db postgresql://...``): every row in one
  PostgreSQL database, PostgreSQL advisory locks; any number of processes share ``DIR``
  (``shared`` is True: each holds ``DIR/intake.lock`` shared, which keeps a SQLite-mode
  server off a directory that PostgreSQL-mode ones use, and the other way round).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Any, Protocol

from resumable_upload.locks import InMemoryLockBackend
from resumable_upload.locks.base import LockBackend

from intake.metadata import Metadata, SQLiteMetadata
from intake.tus_storage import DurableSQLiteStorage
from kiosk.errors import SealingError
from kiosk.fsutil import make_dirs

LOCK_NAME = "intake.lock"


class DataDirBusy(SealingError):
    """``DIR/intake.lock`` is held in a way that excludes us (the message says by whom)."""

    def __init__(self, message: str, shared: bool) -> None:
        super().__init__(message)
        self.shared = shared


def lock_data_dir(data: Path, shared: bool = False) -> int:
    """Hold ``DIR/intake.lock`` for the process's life (the descriptor; closing it lets
    go): exclusively (SQLite: one server, or one ``import``, per data directory) or shared
    (PostgreSQL: any number, but no SQLite-mode one beside). Never waits: a lock held the
    other way raises :class:`DataDirBusy`."""
    fd = os.open(Path(data) / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise DataDirBusy(
                f"a kiosk-intake serve without --db is using {data}" if shared else
                f"another kiosk-intake serve is using {data}", shared) from exc
        raise
    return fd


class Backend(Protocol):
    storage: Any  # a resumable_upload Storage with finished_uploads()
    metadata: Metadata
    locks: LockBackend
    shared: bool

    def close(self) -> None: ...


class SQLiteBackend:
    shared = False

    def __init__(self, data: Path) -> None:
        tus_dir = data / "tus"
        make_dirs(tus_dir / "uploads", mode=0o700)
        self.storage = DurableSQLiteStorage(db_path=str(tus_dir / "uploads.db"),
                                            upload_dir=str(tus_dir / "uploads"))
        self.metadata: Metadata = SQLiteMetadata(data / "intake.db")
        self.locks: LockBackend = InMemoryLockBackend()

    def close(self) -> None:
        pass  # the metadata is closed by the store that uses it; the rest holds nothing


def open_backend(data: Path, db: str | None) -> Backend:
    """The backend ``--db`` names (None: SQLite in ``data``). Raises ValueError for a URL
    that is not PostgreSQL's, psycopg's errors when the database cannot be used."""
    if db is None:
        return SQLiteBackend(data)
    from intake import pg

    if not pg.is_postgres_url(db):
        raise ValueError("--db takes a postgresql:// URL")
    make_dirs(data / "tus" / "uploads", mode=0o700)
    return pg.PostgresBackend(db, str(data / "tus" / "uploads"))
