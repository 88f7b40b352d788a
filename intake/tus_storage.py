"""Where the intake's tus uploads live: the bytes in ``DIR/tus/uploads/<id>``, the rows (length,
offset, metadata, expiry) in SQLite (``DIR/tus/uploads.db``, the default) or in PostgreSQL
(``kiosk-intake serve --db postgresql://...``, several intake processes sharing ``DIR``).

Both storages keep the library's contract (``resumable_upload.storage.Storage``) and add what
the intake needs from it:

* every chunk is written with ``pwrite`` and fsync'd before the library records the new
  offset, so the offset the intake reports is never ahead of bytes that would survive a
  power cut (:func:`write_durably`);
* :meth:`finished_uploads`: the uploads whose bytes have all arrived, for crash recovery;
* :meth:`unfinished_uploads`: how many uploads a kiosk has created and not finished, for
  its quota (``serve --max-unfinished``, :mod:`intake.limits`).

Who may write an upload's file and move its offset at one time is the lock backend's job
(``TusServer(lock_backend=...)``, held around each ``PATCH``): in one process the library's
in-memory lock, across processes a PostgreSQL advisory lock (:class:`intake.pg.AdvisoryLocks`).
The offset itself only moves by compare-and-swap (``update_offset_atomic``), as in the library.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from resumable_upload.storage import SQLiteStorage
from resumable_upload.storage.base import Storage

from kiosk.fsutil import fsync_dir


def write_durably(path: str, offset: int, data: bytes) -> None:
    """``data`` at ``offset`` of ``path`` (created if missing), on disk when this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        position = offset
        while view:
            written = os.pwrite(fd, view, position)
            view, position = view[written:], position + written
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep_orphans(upload_dir: str, known: set[str], listed: list[str]) -> None:
    """Remove upload files that have no row (the library's delete drops the row first)."""
    for name in listed:
        if name not in known:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(upload_dir, name))


class DurableSQLiteStorage(SQLiteStorage):
    """The library's SQLite storage, with every chunk fsync'd before its offset is saved.

    The library's cross-process ``flock`` is not needed: ``DIR/intake.lock`` allows one
    serving process per directory in this mode.
    """

    def create_upload(self, upload_id: str, upload_length: int | None,
                      metadata: dict[str, str], expires_at: Any = None,
                      is_partial: bool = False) -> None:
        super().create_upload(upload_id, upload_length, metadata, expires_at, is_partial)
        fsync_dir(Path(self.upload_dir))

    def write_chunk(self, upload_id: str, offset: int, data: bytes) -> None:
        with self._upload_lock(upload_id):
            write_durably(self.get_file_path(upload_id), offset, data)

    def finished_uploads(self) -> list[tuple[str, dict[str, str]]]:
        """(upload id, metadata) of every upload whose bytes have all arrived; also removes
        upload files the library's delete left without a row."""
        listed = os.listdir(self.upload_dir)  # before the rows: a file made later is kept
        db = sqlite3.connect(self.db_path, timeout=self.timeout)
        try:
            rows = db.execute(
                "SELECT upload_id, metadata FROM uploads WHERE upload_length >= 0"
                " AND offset >= upload_length AND is_partial = 0").fetchall()
            known = {row[0] for row in db.execute("SELECT upload_id FROM uploads")}
        finally:
            db.close()
        _sweep_orphans(self.upload_dir, known, listed)
        return [(upload_id, json.loads(meta) if meta else {}) for upload_id, meta in rows]

    def unfinished_uploads(self, kiosk_id: str) -> int:
        """How many uploads of ``kiosk_id`` are created and not complete (its quota's use);
        expired ones leave with the library's hourly cleanup."""
        db = sqlite3.connect(self.db_path, timeout=self.timeout)
        try:
            row = db.execute(
                "SELECT COUNT(*) FROM uploads WHERE completed = 0"
                " AND json_extract(metadata, '$.kiosk_id') = ?", (kiosk_id,)).fetchone()
        finally:
            db.close()
        return int(row[0])


PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS tus_uploads (
    upload_id TEXT PRIMARY KEY,
    upload_length BIGINT NOT NULL,
    "offset" BIGINT NOT NULL DEFAULT 0,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed BOOLEAN NOT NULL DEFAULT false,
    is_partial BOOLEAN NOT NULL DEFAULT false,
    expires_at TIMESTAMPTZ);
CREATE INDEX IF NOT EXISTS tus_uploads_expires_at ON tus_uploads (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tus_uploads_unfinished ON tus_uploads ((metadata->>'kiosk_id'))
    WHERE NOT completed;
"""


class PostgresStorage(Storage):
    """tus uploads with their rows in PostgreSQL and their bytes in a shared directory.

    Any intake process answers for any upload: the row (offset included) is the one truth,
    read afresh on every request. Concatenation and deferred length are not offered (the
    intake disables both), so neither is implemented.
    """

    _DEFERRED = -1

    def __init__(self, pool: Any, upload_dir: str) -> None:
        self.pool = pool  # a psycopg_pool.ConnectionPool of autocommit connections
        self.upload_dir = upload_dir
        os.makedirs(upload_dir, exist_ok=True)

    def _execute(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        with self.pool.connection() as conn:
            return conn.execute(query, params)

    # -- rows -----------------------------------------------------------------------------
    def create_upload(self, upload_id: str, upload_length: int | None,
                      metadata: dict[str, str], expires_at: datetime | None = None,
                      is_partial: bool = False) -> None:
        from psycopg.types.json import Jsonb

        if is_partial:
            raise NotImplementedError("the intake does not offer tus concatenation")
        self._execute(
            "INSERT INTO tus_uploads (upload_id, upload_length, metadata, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (upload_id, self._DEFERRED if upload_length is None else upload_length,
             Jsonb(metadata), expires_at))
        try:  # the row first: a file without a row is an orphan that recovery removes
            fd = os.open(self.get_file_path(upload_id),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
            fsync_dir(Path(self.upload_dir))
        except OSError:
            self.delete_upload(upload_id)
            raise

    def get_upload(self, upload_id: str) -> dict[str, Any] | None:
        row = self._execute(
            'SELECT upload_length, "offset", metadata, completed, expires_at, is_partial'
            " FROM tus_uploads WHERE upload_id = %s", (upload_id,)).fetchone()
        if row is None:
            return None
        length, offset, metadata, completed, expires_at, is_partial = row
        return {"upload_id": upload_id,
                "upload_length": None if length == self._DEFERRED else int(length),
                "offset": int(offset), "metadata": dict(metadata or {}),
                "completed": bool(completed), "expires_at": expires_at,
                "is_partial": bool(is_partial), "concat_partial_ids": None}

    def update_offset(self, upload_id: str, offset: int) -> None:
        self._execute('UPDATE tus_uploads SET "offset" = %s WHERE upload_id = %s',
                      (offset, upload_id))

    def update_offset_atomic(self, upload_id: str, expected_offset: int,
                             new_offset: int) -> bool:
        cursor = self._execute(
            'UPDATE tus_uploads SET "offset" = %s WHERE upload_id = %s AND "offset" = %s',
            (new_offset, upload_id, expected_offset))
        return cursor.rowcount == 1

    def set_upload_length(self, upload_id: str, upload_length: int) -> None:
        self._execute("UPDATE tus_uploads SET upload_length = %s WHERE upload_id = %s",
                      (upload_length, upload_id))

    def complete_upload(self, upload_id: str) -> bool:
        """True for the one call, in any process, that marks the upload completed."""
        cursor = self._execute("UPDATE tus_uploads SET completed = true"
                               " WHERE upload_id = %s AND NOT completed", (upload_id,))
        return cursor.rowcount == 1

    def delete_upload(self, upload_id: str) -> None:
        self._execute("DELETE FROM tus_uploads WHERE upload_id = %s", (upload_id,))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.get_file_path(upload_id))

    def get_expired_uploads(self) -> list[str]:
        rows = self._execute("SELECT upload_id FROM tus_uploads WHERE expires_at < %s",
                             (datetime.now(UTC),)).fetchall()
        return [row[0] for row in rows]

    def cleanup_expired_uploads(self) -> int:
        expired = self.get_expired_uploads()
        for upload_id in expired:
            self.delete_upload(upload_id)
        return len(expired)

    def finished_uploads(self) -> list[tuple[str, dict[str, str]]]:
        """As :meth:`DurableSQLiteStorage.finished_uploads`. Safe while other processes
        serve: the directory is listed before the rows are read, and a row is always made
        before its file, so a file listed without a row has none for good."""
        listed = os.listdir(self.upload_dir)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT upload_id, metadata FROM tus_uploads WHERE upload_length >= 0"
                ' AND "offset" >= upload_length AND NOT is_partial').fetchall()
            known = {row[0] for row in conn.execute("SELECT upload_id FROM tus_uploads")}
        _sweep_orphans(self.upload_dir, known, listed)
        return [(upload_id, dict(meta or {})) for upload_id, meta in rows]

    def unfinished_uploads(self, kiosk_id: str) -> int:
        """As :meth:`DurableSQLiteStorage.unfinished_uploads`, over every process's uploads
        (the intake holds the kiosk's quota lock around the count and the creation)."""
        row = self._execute(
            "SELECT COUNT(*) FROM tus_uploads WHERE NOT completed"
            " AND metadata->>'kiosk_id' = %s", (kiosk_id,)).fetchone()
        return int(row[0]) if row else 0

    # -- bytes ----------------------------------------------------------------------------
    def write_chunk(self, upload_id: str, offset: int, data: bytes) -> None:
        write_durably(self.get_file_path(upload_id), offset, data)

    def read_file(self, upload_id: str) -> bytes:
        with open(self.get_file_path(upload_id), "rb") as stream:
            return stream.read()

    def open_file(self, upload_id: str) -> BinaryIO:
        return open(self.get_file_path(upload_id), "rb")

    def get_file_path(self, upload_id: str) -> str:
        return os.path.join(self.upload_dir, upload_id)

    def get_file_info(self, upload_id: str) -> dict[str, Any]:
        return {"upload_id": upload_id, "file_path": self.get_file_path(upload_id)}
