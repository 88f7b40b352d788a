"""The intake's metadata in PostgreSQL (``kiosk-intake serve --db postgresql://...``).

Several ``kiosk-intake serve`` processes, on one machine or several, share one PostgreSQL
database and one data directory (packets, receipts, tus upload files) and behave as one
intake (``docs/upload.md``, "Several intake processes"):

* **one record, one row**: ``records`` has the primary key (kiosk, record); a stored packet
  is counted with ``INSERT ... ON CONFLICT DO NOTHING``, so two processes that receive the
  same record at once store one row and count the other as a duplicate; the packet file
  itself is linked into place from a unique temporary file, which never replaces one that
  is there (``intake.store``);
* **one upload, one writer**: every ``PATCH`` (write, fsync, offset) runs under a session
  advisory lock on the upload id (:class:`AdvisoryLocks`, the tus server's lock backend),
  so an upload started on one process resumes on another and two ``PATCH``\\ es of one
  upload never interleave; the lock goes with the session, so a process that dies (even
  by SIGKILL) releases it at once;
* **one outcome per upload**: ``processed`` has the tus upload id as primary key, written
  in the same transaction as the counters, so a completed upload is counted once whoever
  processes it (the process that received its last byte, or another one's recovery sweep).

Connections come from ``psycopg_pool`` pools (autocommit; a transaction where several rows
change together). Locks have a pool of their own: a ``PATCH`` holds a lock connection
while it uses query connections, and one shared pool could be drained by lock holders.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from resumable_upload.locks.base import LockBackend

from intake.metadata import TABLES, no_stats, stats_of
from intake.tus_storage import PG_SCHEMA as TUS_SCHEMA

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
POOL_SIZE = 16  # query connections per process
LOCK_POOL_SIZE = 64  # PATCHes of distinct uploads in flight at once per process
CONNECT_TIMEOUT_S = 10.0
# Serialises schema creation when several processes start at once (CREATE TABLE IF NOT
# EXISTS is not safe against itself running concurrently in PostgreSQL).
_SCHEMA_LOCK = 0x6B696F736B  # "kiosk"

_COUNTERS = ("INSERT INTO counters (name, value) VALUES ('duplicates', 0), ('rejected', 0)"
             " ON CONFLICT DO NOTHING;")
SCHEMA = "\n".join((TUS_SCHEMA,
                    "CREATE TABLE IF NOT EXISTS intake_schema (version INTEGER NOT NULL);",
                    TABLES.format(int8="BIGINT", code_default=""), _COUNTERS))


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the --db URL"
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()) if k != "password")


def open_pool(url: str, size: int, name: str) -> ConnectionPool:
    """A pool of autocommit connections, opened and checked now (a wrong URL or a server
    that is down fails here, with psycopg's reason, not at the first upload)."""
    pool = ConnectionPool(url, min_size=1, max_size=size, name=name, open=False,
                          kwargs={"autocommit": True}, check=ConnectionPool.check_connection,
                          timeout=CONNECT_TIMEOUT_S)
    pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    return pool


def ensure_schema(pool: ConnectionPool) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(SCHEMA)
        row = conn.execute("SELECT max(version) FROM intake_schema").fetchone()
        if row is None or row[0] is None:
            conn.execute("INSERT INTO intake_schema VALUES (%s)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise psycopg.DataError(f"the database's intake schema is version {row[0]}; "
                                    f"this kiosk-intake knows {SCHEMA_VERSION}")


class PostgresMetadata:
    """:class:`intake.metadata.Metadata` in PostgreSQL, shared by every intake process."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def close(self) -> None:
        pass  # the pool belongs to the backend

    def processed(self, upload_id: str) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("SELECT 1 FROM processed WHERE upload_id = %s",
                                (upload_id,)).fetchone() is not None

    def reject(self, upload_id: str, kiosk_id: str, record_id: str, reason: str, code: str,
               at: str) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute("INSERT INTO processed VALUES (%s, 'rejected', %s)"
                            " ON CONFLICT DO NOTHING RETURNING 1",
                            (upload_id, at)).fetchone() is None:
                return False  # another process recorded this upload's outcome
            conn.execute(
                "INSERT INTO rejections (kiosk_id, record_id, reason, at, code)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kiosk_id, record_id) DO UPDATE"
                " SET reason = excluded.reason, at = excluded.at, code = excluded.code",
                (kiosk_id, record_id, reason, at, code))
            conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'rejected'")
        return True

    def stored(self, upload_id: str, kiosk_id: str, record_id: str, sha256: str,
               length: int, at: str) -> str:
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute("INSERT INTO processed VALUES (%s, 'received', %s)"
                            " ON CONFLICT DO NOTHING RETURNING 1",
                            (upload_id, at)).fetchone() is None:
                return "replayed"
            first = conn.execute(
                "INSERT INTO records VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
                " RETURNING 1", (kiosk_id, record_id, sha256, length, at)).fetchone()
            if first is not None:
                conn.execute("DELETE FROM rejections WHERE kiosk_id = %s AND record_id = %s",
                             (kiosk_id, record_id))
                return "received"
            conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'duplicates'")
            conn.execute("UPDATE processed SET outcome = 'duplicate' WHERE upload_id = %s",
                         (upload_id,))
            return "duplicate"

    def rejection(self, kiosk_id: str, record_id: str) -> tuple[str, str] | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT reason, code FROM rejections WHERE kiosk_id = %s"
                               " AND record_id = %s", (kiosk_id, record_id)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def stats(self) -> dict[str, Any]:
        with self.pool.connection() as conn:
            return stats_of(conn)


def read_stats(url: str) -> dict[str, Any]:
    """Counters for ``kiosk-intake stats --db URL`` (a database never served: zeros)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S)) as conn:
        if conn.execute("SELECT to_regclass('records')").fetchone() == (None,):
            return no_stats()
        return stats_of(conn)


def _lock_key(key: str) -> int:
    """A signed 64-bit advisory lock key for an upload id (a collision only serialises
    two uploads that did not need it)."""
    return int.from_bytes(hashlib.sha256(b"tus:" + key.encode()).digest()[:8], "big",
                          signed=True)


class AdvisoryLocks(LockBackend):
    """The tus server's per-upload lock, across every process on the database.

    ``acquire`` takes a session-level ``pg_advisory_lock`` on a connection of its own pool
    and keeps that connection until ``release``. Unlike the library's in-memory lock there
    is no TTL: the lock lasts as long as its holder's session, which PostgreSQL ends when
    the process dies, so a killed intake never leaves an upload locked, and a slow one is
    never overtaken. Waiting is bounded by ``wait_timeout`` (PostgreSQL's
    ``lock_timeout``); the tus server answers ``423`` when it runs out.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._held: dict[str, tuple[psycopg.Connection[Any], int]] = {}
        self._guard = threading.Lock()
        self._count = 0

    def acquire(self, key: str, ttl_seconds: float, wait_timeout: float = 0.0) -> str | None:
        try:
            conn = self.pool.getconn(timeout=max(wait_timeout, 0.1))
        except PoolTimeout:
            return None
        lock = _lock_key(key)
        try:
            if wait_timeout <= 0:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
                got = bool(row and row[0])
            else:
                conn.execute("SELECT set_config('lock_timeout', %s, false)",
                             (f"{max(1, int(wait_timeout * 1000))}ms",))
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
                    got = True
                except psycopg.errors.LockNotAvailable:
                    got = False
        except BaseException:
            self.pool.putconn(conn)
            raise
        if not got:
            self.pool.putconn(conn)
            return None
        with self._guard:
            self._count += 1
            token = f"{lock:x}-{self._count}"
            self._held[token] = (conn, lock)
        return token

    def release(self, key: str, token: str) -> None:
        with self._guard:
            held = self._held.pop(token, None)
        if held is None:
            return
        conn, lock = held
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
        except psycopg.Error:  # the session is gone, and the lock with it
            log.warning("could not release an upload lock; its connection is dropped")
        finally:
            self.pool.putconn(conn)


class PostgresBackend:
    """Pools, schema, the three parts the intake uses (storage, metadata, locks)."""

    shared = True  # any number of processes serve one data directory

    def __init__(self, url: str, upload_dir: str) -> None:
        from intake.tus_storage import PostgresStorage

        self.pool = open_pool(url, POOL_SIZE, "intake")
        try:
            self.lock_pool = open_pool(url, LOCK_POOL_SIZE, "intake-locks")
        except BaseException:
            self.pool.close()
            raise
        try:
            ensure_schema(self.pool)
        except BaseException:
            self.close()
            raise
        self.storage = PostgresStorage(self.pool, upload_dir)
        self.metadata = PostgresMetadata(self.pool)
        self.locks = AdvisoryLocks(self.lock_pool)

    def close(self) -> None:
        self.lock_pool.close()
        self.pool.close()
