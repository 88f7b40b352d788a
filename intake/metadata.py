"""What the intake keeps about records, refusals and processed uploads: the
:class:`Metadata` interface, its SQLite implementation (``DIR/intake.db``, one serving
process; :class:`intake.pg.PostgresMetadata` is the other) and the counters of
``kiosk-intake stats``, read the same way from either database.

Each write is one transaction, made after the files it describes are on disk
(:mod:`intake.store` says why that order makes a crash at any instant safe).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

_SCHEMA_VERSION = 2
#: The intake's own tables, in both databases: ``{int8}`` is the 64-bit integer type
#: (SQLite: INTEGER, PostgreSQL: BIGINT) and ``{code_default}`` the refusal code's default,
#: which only SQLite's databases need (version 1 had no codes; see its migration).
TABLES = """
CREATE TABLE IF NOT EXISTS records (
    kiosk_id TEXT NOT NULL, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    length {int8} NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, record_id));
CREATE TABLE IF NOT EXISTS rejections (
    kiosk_id TEXT NOT NULL, record_id TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
    code TEXT NOT NULL{code_default}, PRIMARY KEY (kiosk_id, record_id));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value {int8} NOT NULL);
CREATE TABLE IF NOT EXISTS processed (upload_id TEXT PRIMARY KEY, outcome TEXT NOT NULL,
    at TEXT NOT NULL);
"""
_COUNTERS = ("INSERT OR IGNORE INTO counters (name, value)"
             " VALUES ('duplicates', 0), ('rejected', 0);")
_SCHEMA = TABLES.format(int8="INTEGER", code_default=" DEFAULT 'malformed_packet'") + _COUNTERS


class Metadata(Protocol):
    """What the store keeps about records, refusals and processed uploads, wherever it is
    kept: :class:`SQLiteMetadata` (``DIR/intake.db``, one process) or
    :class:`intake.pg.PostgresMetadata` (several processes). Each write is one transaction,
    made after the files it describes are on disk."""

    def processed(self, upload_id: str) -> bool:
        """Whether this tus upload's outcome is recorded already."""
        ...

    def reject(self, upload_id: str, kiosk_id: str, record_id: str, reason: str, code: str,
               at: str) -> bool:
        """Record the refusal, count it, mark the upload processed; False if it was."""
        ...

    def stored(self, upload_id: str, kiosk_id: str, record_id: str, sha256: str,
               length: int, at: str) -> str:
        """Record a stored packet: ``received`` (its first row), ``duplicate`` (counted),
        or ``replayed`` (the upload was processed already: nothing changed)."""
        ...

    def rejection(self, kiosk_id: str, record_id: str) -> tuple[str, str] | None:
        """(reason, code) of the last refusal of this record, if any."""
        ...

    def stats(self) -> dict[str, Any]:
        ...

    def close(self) -> None:
        ...


class SQLiteMetadata:
    """``DIR/intake.db`` (WAL, ``synchronous=FULL``), one connection used under one lock:
    the single-writer rule (one serving process holds ``DIR/intake.lock``)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        if version == 1:  # refusal codes arrived in version 2
            self._db.execute("ALTER TABLE rejections ADD COLUMN code TEXT NOT NULL"
                             " DEFAULT 'malformed_packet'")
        self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def processed(self, upload_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM processed WHERE upload_id = ?",
                                    (upload_id,)).fetchone() is not None

    def reject(self, upload_id: str, kiosk_id: str, record_id: str, reason: str, code: str,
               at: str) -> bool:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM processed WHERE upload_id = ?",
                          (upload_id,)).fetchone():
                return False
            db.execute("INSERT OR REPLACE INTO rejections (kiosk_id, record_id, reason, at,"
                       " code) VALUES (?, ?, ?, ?, ?)",
                       (kiosk_id, record_id, reason, at, code))
            db.execute("UPDATE counters SET value = value + 1 WHERE name = 'rejected'")
            db.execute("INSERT INTO processed VALUES (?, 'rejected', ?)", (upload_id, at))
        return True

    def stored(self, upload_id: str, kiosk_id: str, record_id: str, sha256: str,
               length: int, at: str) -> str:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM processed WHERE upload_id = ?",
                          (upload_id,)).fetchone():
                return "replayed"
            known = db.execute("SELECT 1 FROM records WHERE kiosk_id = ? AND record_id = ?",
                               (kiosk_id, record_id)).fetchone()
            if known:
                db.execute("UPDATE counters SET value = value + 1 WHERE name = 'duplicates'")
            else:
                db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                           (kiosk_id, record_id, sha256, length, at))
                db.execute("DELETE FROM rejections WHERE kiosk_id = ? AND record_id = ?",
                           (kiosk_id, record_id))
            status = "duplicate" if known else "received"
            db.execute("INSERT INTO processed VALUES (?, ?, ?)", (upload_id, status, at))
        return status

    def rejection(self, kiosk_id: str, record_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reason, code FROM rejections WHERE kiosk_id = ? AND record_id = ?",
                (kiosk_id, record_id)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return stats_of(self._db)


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Database(Protocol):
    """A DB-API connection with ``execute`` (sqlite3's and psycopg's both have it)."""

    def execute(self, sql: str) -> _Cursor: ...


def no_stats() -> dict[str, Any]:
    """The counters of an intake that has received nothing yet."""
    return {"received": 0, "duplicates": 0, "rejected": 0, "kiosks": {}, "records_refused": 0}


def stats_of(db: _Database) -> dict[str, Any]:
    """The counters in ``db``, SQLite or PostgreSQL (the queries are the same in both)."""
    counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
    kiosks = {str(k): int(n) for k, n in db.execute(
        "SELECT kiosk_id, COUNT(*) FROM records GROUP BY kiosk_id ORDER BY kiosk_id"
    ).fetchall()}
    refused = db.execute("SELECT COUNT(*) FROM rejections").fetchone()
    return {"received": sum(kiosks.values()), "duplicates": int(counters.get("duplicates", 0)),
            "rejected": int(counters.get("rejected", 0)), "kiosks": kiosks,
            "records_refused": int(refused[0] if refused else 0)}


def read_stats(data: Path) -> dict[str, Any]:
    """Counters for ``kiosk-intake stats``: read-only, safe while the server runs."""
    path = Path(data) / "intake.db"
    if not path.exists():
        return no_stats()
    # With the server running (its -wal exists) share its WAL index read-only. Without it,
    # the database is fully checkpointed: read it as immutable, so that an operator's
    # `sudo kiosk-intake stats` does not leave root-owned -wal/-shm files that the server's
    # own user could then not open.
    live = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if live else "immutable=1"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=10)
    try:
        return stats_of(db)
    finally:
        db.close()
