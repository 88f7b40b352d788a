"""Schema migrations of the journal database, keyed by ``PRAGMA user_version``.

``MIGRATIONS[n]`` takes a database at version ``n`` to version ``n + 1``. Each runs in its
own ``BEGIN IMMEDIATE`` transaction together with the ``user_version`` bump, so a power cut
leaves the database at one version or the next, never in between. A migration, once
released, is never edited: add a new one instead. The caller holds the journal's writer
lock (see :mod:`kiosk.journal`).

A migration that SQLite's ``ALTER TABLE`` cannot express (a column's type, a ``NOT NULL``, a
new primary key or foreign key) rebuilds the table with sqlite-utils' ``table.transform()``
on :func:`schema_tools`, inside the same transaction. :func:`migrate` follows SQLite's
procedure for such rebuilds: foreign keys off outside the transaction (dropping the old table
must not fire ``ON DELETE CASCADE`` from ``steps`` to ``payloads``), ``PRAGMA
foreign_key_check`` before the commit, foreign keys back on after it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from kiosk.errors import JournalError

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]


def _v1_initial(conn: sqlite3.Connection) -> None:
    """Tables for records, their step blobs, audit events and the sequence counter."""
    statements = (
        # One row per counter. 'seq' is the per-device monotonic sequence number: it only
        # ever grows, so numbers are never reused after deletions or a clock going back.
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) STRICT""",
        "INSERT INTO counters (name, value) VALUES ('seq', 0)",
        """CREATE TABLE records (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            state TEXT NOT NULL,
            assisted INTEGER NOT NULL CHECK (assisted IN (0, 1)),
            boot_id TEXT NOT NULL,
            clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            manifest BLOB
        ) STRICT""",
        """CREATE TABLE steps (
            record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            blob BLOB NOT NULL,
            seq INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),
            created_at TEXT NOT NULL,
            PRIMARY KEY (record_id, step)
        ) STRICT""",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            event TEXT NOT NULL,
            details TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),
            created_at TEXT NOT NULL
        ) STRICT""",
    )
    for statement in statements:
        conn.execute(statement)


def _v2_indexes(conn: sqlite3.Connection) -> None:
    """Indexes for the queue listing (records by state) and the audit lookups by event."""
    conn.execute("CREATE INDEX records_by_state ON records (state, seq)")
    conn.execute("CREATE INDEX audit_by_event ON audit (event, seq)")


def _v3_step_digests(conn: sqlite3.Connection) -> None:
    """Each step's SHA-256, taken when it is saved, so sealing need not read blobs back.
    Rows saved before this version have NULL and are hashed from the blob when sealed."""
    conn.execute("ALTER TABLE steps ADD COLUMN sha256 TEXT")


def _v4_payloads_apart(conn: sqlite3.Connection) -> None:
    """Step blobs move to their own table, so the integrity check on every start can skip
    the bulk of the file (payloads carry their SHA-256 in ``steps`` and are checked when
    read); ``steps`` keeps the small metadata, now with each blob's length."""
    conn.execute(
        """CREATE TABLE payloads (
            record_id TEXT NOT NULL,
            step TEXT NOT NULL,
            blob BLOB NOT NULL,
            PRIMARY KEY (record_id, step),
            FOREIGN KEY (record_id, step) REFERENCES steps (record_id, step)
                ON DELETE CASCADE
        ) STRICT""")
    conn.execute("INSERT INTO payloads (record_id, step, blob)"
                 " SELECT record_id, step, blob FROM steps")
    conn.execute("ALTER TABLE steps ADD COLUMN length INTEGER")
    conn.execute("UPDATE steps SET length = length(blob)")
    conn.execute("ALTER TABLE steps DROP COLUMN blob")


def _v5_upload_state(conn: sqlite3.Connection) -> None:
    """What the uploader needs to survive a kill: the tus upload URL of a record being
    uploaded, and the intake's signed receipt, stored with the move to ``acknowledged``."""
    conn.execute("ALTER TABLE records ADD COLUMN upload_url TEXT")
    conn.execute("ALTER TABLE records ADD COLUMN receipt BLOB")
    conn.execute("ALTER TABLE records ADD COLUMN acknowledged_at TEXT")


def _v6_resume_check(conn: sqlite3.Connection) -> None:
    """An unfinished assisted record's check of the NIK and No. KK it was begun with
    (:mod:`kiosk.enrollment.resume_check`), so the officer cannot continue it with another
    person's numbers; NULL once sealed, and for every self-service record. Additive: code
    of version 5 can use the file (it never names the column; the records it begins have
    no check, which this code accepts). From here on the journal says so itself
    (:func:`usable`), so a later additive migration does not stop a rollback."""
    conn.execute("ALTER TABLE records ADD COLUMN resume_check BLOB")
    conn.execute("CREATE TABLE journal_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
                 " STRICT")
    set_oldest_reader(conn, 5)


MIGRATIONS: Sequence[Migration] = (_v1_initial, _v2_indexes, _v3_step_digests,
                                   _v4_payloads_apart, _v5_upload_state, _v6_resume_check)

# Tables the integrity check at open skips: their pages are most of the file, and each row is
# verified against its SHA-256 (kept in ``steps``) whenever it is read.
BULK_TABLES: frozenset[str] = frozenset({"payloads"})


def set_oldest_reader(conn: sqlite3.Connection, version: int) -> None:
    """Every migration from version 6 on says which schema version's code may still use the
    file it leaves: the version before it when it only adds (a nullable column, a table,
    an index the older code never names), its own when the older code would misread it."""
    conn.execute("INSERT INTO journal_meta (key, value) VALUES ('oldest_reader', ?)"
                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (version,))


def oldest_reader(conn: sqlite3.Connection) -> int | None:
    """The oldest schema version whose code may use this file, as its last migration said;
    None before version 6 (the file says nothing)."""
    try:
        row = conn.execute(
            "SELECT value FROM journal_meta WHERE key = 'oldest_reader'").fetchone()
    except sqlite3.OperationalError:  # no such table: a file from before version 6
        return None
    return None if row is None else int(row[0])


def usable(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> bool:
    """This code may use the file: its schema is this code's or older (to migrate), or
    newer but declared usable by this code's version (a rollback over additive
    migrations, ``kiosk update --rollback``)."""
    version, latest = user_version(conn), latest_version(migrations)
    if version <= latest:
        return True
    floor = oldest_reader(conn)
    return floor is not None and floor <= latest


def schema_tools(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """sqlite-utils on the migration's own connection, for ``table.transform()`` and the
    like: its changes run as savepoints in the migration's transaction. Nothing is set on the
    connection (no plugins, no ``recursive_triggers``). Imported here, not at the top: it
    takes a quarter of a second to import, which every kiosk process would pay."""
    import sqlite_utils

    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """The schema version this code brings a journal to."""
    return len(MIGRATIONS if migrations is None else migrations)


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database header."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection,
            migrations: Sequence[Migration] | None = None) -> tuple[int, int]:
    """Bring ``conn`` to the latest version; return ``(version before, version after)``.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raises
    :class:`JournalError` without touching anything when the database is newer than the code
    and does not say this code may use it (:func:`usable`); when it does, nothing is done.
    """
    steps = MIGRATIONS if migrations is None else migrations
    start = user_version(conn)
    latest = latest_version(steps)
    if start > latest and usable(conn, steps):
        log.warning("journal schema version %d is newer than this software knows (%d), and "
                    "says this software may use it: used as it is (a rollback)", start, latest)
        return start, start
    if start > latest:
        raise JournalError(
            f"journal schema version {start} is newer than this software knows ({latest}); "
            "refusing to touch it: install the newer kiosk software or move the file aside")
    if start == latest:
        return start, latest
    foreign_keys = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set it before
    try:
        for version in range(start, latest):
            _run_one(conn, steps[version], version)
            log.info("journal schema migrated %d -> %d", version, version + 1)
    finally:
        if foreign_keys:
            conn.execute("PRAGMA foreign_keys = ON")
    return start, latest


def _run_one(conn: sqlite3.Connection, step: Migration, version: int) -> None:
    """Migration ``version`` and the ``user_version`` bump in one transaction, committed only
    if no foreign key is left dangling."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        step(conn)
        dangling = conn.execute("PRAGMA foreign_key_check").fetchmany(3)
        if dangling:
            raise JournalError(
                "it leaves rows whose foreign key points nowhere: " + ", ".join(
                    f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in dangling))
        # user_version takes an integer literal only; `version` is ours, not input.
        conn.execute(f"PRAGMA user_version = {version + 1:d}")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, Exception):
            raise JournalError(
                f"journal migration {version} -> {version + 1} failed and was rolled "
                f"back: {exc}") from exc
        raise
