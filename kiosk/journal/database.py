"""Files, locks and connections under the journal (package-internal).

Everything here runs below :class:`kiosk.journal.Journal`: creating the file durably, the
writer lock of the single-writer rule (see :mod:`kiosk.journal`), connection settings,
the integrity check, quarantine of a corrupt file, and the transaction and audit helpers
shared by the opening path and the journal's methods.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from kiosk.core.canonical import canonical_json
from kiosk.errors import JournalCorrupt, JournalError
from kiosk.fsutil import describe_process, flock_holders, fsync_dir, make_dirs
from kiosk.journal import migrations

log = logging.getLogger(__name__)

# 16 KiB pages: a ~1 MB record is ~65 WAL frames instead of ~250, while a small commit (a
# counter, an index entry, page 1) costs ~3 pages. 4-16 KiB measured alike; 32 KiB and up
# were slower (small commits write whole pages). Only settable before the first table exists.
PAGE_SIZE = 16384
# Checkpoint about every 4 MiB of WAL, i.e. every few records, at COMMIT (inside the lock).
AUTOCHECKPOINT_BYTES = 4 * 1024 * 1024
# Keep a reset WAL file at most this big so its space is reused rather than reallocated.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024
BUSY_TIMEOUT_S = 10.0
LOCK_TIMEOUT_S = 30.0
# How long a reader (status, doctor) waits for the writer lock to come free before it says
# who holds it: a commit or a checkpoint holds it for milliseconds. Readers never need it.
LOCK_PATIENCE_S = 2.0
MAX_DETAIL_CHARS = 200
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAGIC = b"SQLite format 3\x00"
_CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

Detail = str | int | bool | None
_T = TypeVar("_T")


def quarantined_files(path: Path) -> list[Path]:
    """Corrupt journals moved aside beside ``path`` (their -wal/-shm not listed), oldest first."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = path.parent.glob(f"{path.name}.corrupt-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_file(path: Path) -> bool:
    """Create an empty database file durably (file and directory entry); False if it exists."""
    make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    except FileExistsError:
        return False
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return True


def is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPTION_CODES


def is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: a write found no space (ENOSPC); the transaction is rolled back."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) == sqlite3.SQLITE_FULL


class WriterLock:
    """The per-process threading lock plus the ``flock`` on ``<db>.lock``."""

    _registry: dict[str, threading.Lock] = {}  # noqa: RUF012 -- one lock per file, per process
    _registry_guard = threading.Lock()

    def __init__(self, path: Path, *, create: bool) -> None:
        flags = (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY
        self.path = path
        self._fd: int | None = os.open(path, flags | os.O_CLOEXEC, 0o640)
        with self._registry_guard:
            key = os.path.realpath(path)
            self._thread_lock = self._registry.setdefault(key, threading.Lock())

    def __enter__(self) -> None:
        if self._fd is None:
            raise JournalError(f"lock {self.path} already closed")
        if not self._thread_lock.acquire(timeout=LOCK_TIMEOUT_S):
            raise JournalError(f"journal lock {self.path} busy in this process")
        try:
            self._flock(self._fd)
        except BaseException:
            self._thread_lock.release()
            raise

    def _flock(self, fd: int) -> None:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"journal lock {self.path} held by {lock_holder_name(self.path)} "
                        f"for more than {LOCK_TIMEOUT_S:g} s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_holder_name(lock_path: Path) -> str:
    """Who holds the ``flock`` on ``lock_path``: ``process N (its command line)`` when
    ``/proc/locks`` names it, else ``another process``."""
    holders = [pid for pid in flock_holders(lock_path) or [] if pid != os.getpid()]
    return describe_process(holders[0]) if holders else "another process"


def held_writer_lock(lock_path: Path, patience_s: float = LOCK_PATIENCE_S) -> str | None:
    """Why the journal's writer lock ``lock_path`` is not free after ``patience_s``, naming
    its holder; None when it is free (or there is no lock file: no writer ever ran). Asked
    with a shared lock, let go at once: a writer waits for it a moment at most."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        deadline = time.monotonic() + patience_s
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
    finally:
        os.close(fd)  # lets go of the shared lock
    return (f"the journal's writer lock {lock_path} has been held for more than "
            f"{patience_s:g} s by {lock_holder_name(lock_path)}: the kiosk's writes (an "
            f"enrollment's steps, the uploader's receipts) wait for it, and fail after "
            f"{LOCK_TIMEOUT_S:g} s")


def connect(target: str | Path, *, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: autocommit; we issue BEGIN IMMEDIATE / COMMIT ourselves.
    return sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False, uri=uri)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the journal ``path`` (URI ``mode=ro``), opened: its first
    query has run. A journal closed cleanly on a file system mounted read-only since (an SD
    card the kernel remounted after errors, a card in a reader) has no ``-wal`` and no
    ``-shm``, and the ``-shm`` a WAL reader needs cannot be made there ("unable to open
    database file"); nothing can write on that file system, and with no ``-wal`` every
    commit is in the file, so it is read as immutable."""
    real = Path(path).resolve()  # where SQLite looks for the -wal: beside the file itself
    uri = real.as_uri()
    conn = connect(f"{uri}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if not _sealed_on_read_only_media(real):
            raise
    return connect(f"{uri}?mode=ro&immutable=1", uri=True)


def _sealed_on_read_only_media(path: Path) -> bool:
    """Whether ``path`` (resolved) is on a file system mounted read-only with no commit
    in a ``-wal`` beside it (none, or an empty one)."""
    try:
        if not os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    try:
        return os.stat(f"{path}-wal").st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings; page_size only takes effect on a brand-new file."""
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE:d}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.execute(f"PRAGMA wal_autocheckpoint = {max(AUTOCHECKPOINT_BYTES // page_size, 1):d}")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT:d}")
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    if str(mode).lower() != "wal" or sync != 2:
        raise JournalError(f"journal settings refused: journal_mode={mode}, synchronous={sync}")


def quick_check(conn: sqlite3.Connection, *, skip: frozenset[str] = frozenset()) -> str | None:
    """``PRAGMA quick_check``: None when sound, else the first problems found.

    With ``skip``, every table except those (and ``sqlite_schema``) is checked one by one,
    with its indexes: a partial check reads only their pages, so its cost does not grow with
    the payloads. (A partial check cannot see pages used twice across tables or lost from the
    freelist; :func:`full_check` can.)
    """
    if not skip:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
        return None if rows == ["ok"] else "; ".join(rows)
    tables = ["sqlite_schema"] + [
        name for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        if name not in skip]
    problems: list[str] = []
    for table in tables:
        quoted = table.replace('"', '""')
        rows = [str(r[0]) for r in conn.execute(f'PRAGMA quick_check("{quoted}")')]
        if rows != ["ok"]:
            problems += rows[:5]
    return None if not problems else "; ".join(problems[:5])


def full_check(conn: sqlite3.Connection) -> str | None:
    """``PRAGMA integrity_check`` over the whole file (reads every page)."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)")]
    return None if rows == ["ok"] else "; ".join(rows)


def quarantine(path: Path) -> Path:
    """Move the database and its -wal/-shm aside, never deleting; return the new db path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 0
    while any(Path(f"{target}{s}").exists() for s in ("", "-wal", "-shm")):
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    # -wal first: a stale WAL left beside a fresh database would be replayed into it.
    for suffix in ("-wal", "-shm", ""):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.rename(source, f"{target}{suffix}")
    fsync_dir(path.parent)
    return target


def take_seq(conn: sqlite3.Connection) -> None:
    """Take the next sequence number, for the statement after it to store as the subquery
    ``(SELECT value FROM counters WHERE name = 'seq')``; only inside a write transaction
    (the caller's), where nothing can come between the two.

    Not ``UPDATE ... RETURNING``: SQLite runs a ``RETURNING`` through an ephemeral table,
    which cost 20-40 us more per call here (a record takes eight numbers)."""
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")


def next_seq(conn: sqlite3.Connection) -> int:
    """Take the next sequence number and return it (see :func:`take_seq`)."""
    take_seq(conn)
    row = conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
    return int(row[0])


def check_details(details: dict[str, Detail]) -> str:
    for key, value in details.items():
        if not NAME.fullmatch(key):
            raise ValueError(f"audit detail name {key!r} must match {NAME.pattern}")
        if value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"audit detail {key} must be str, int, bool or None")
        if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS:
            raise ValueError(f"audit detail {key} is longer than {MAX_DETAIL_CHARS} characters")
    return canonical_json(details).decode("ascii")


def insert_audit(conn: sqlite3.Connection, event: str, details: dict[str, Detail],
                  boot_id: str, trusted: bool) -> int:
    if not NAME.fullmatch(event):
        raise ValueError(f"audit event name {event!r} must match {NAME.pattern}")
    text = check_details(details)
    take_seq(conn)
    cursor = conn.execute(
        "INSERT INTO audit (seq, event, details, boot_id, clock_trusted, created_at)"
        " VALUES ((SELECT value FROM counters WHERE name = 'seq'), ?, ?, ?, ?, ?)",
        (event, text, boot_id, int(trusted), utc_now()))
    return int(cursor.lastrowid or 0)  # seq is the INTEGER PRIMARY KEY: the rowid


def write_in(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], _T]) -> _T:
    """One write transaction; the caller holds the writer lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def ask_clock(clock_trusted: Callable[[], bool]) -> bool:
    try:
        return bool(clock_trusted())
    except Exception:  # an unknown clock is an untrusted one
        log.warning("clock_trusted() failed; recording the clock as untrusted", exc_info=True)
        return False


def initialise(conn: sqlite3.Connection, boot_id: str, trusted: Callable[[], bool]) -> None:
    configure(conn)
    before, after = migrations.migrate(conn)
    if before != after:
        event = "journal_created" if before == 0 else "journal_migrated"
        write_in(conn, lambda c: insert_audit(
            c, event, {"from_version": before, "to_version": after}, boot_id,
            ask_clock(trusted)))


#: What :func:`check` finds in a journal file of 0 bytes that the writer did not just make.
EMPTY_PROBLEM = "file is empty (0 bytes: truncated, or a first start cut short)"


def is_empty(path: Path) -> bool:
    """Whether the journal ``path`` is a file of 0 bytes with no commit in a ``-wal``
    beside it: no record can be read from it (SQLite would take it for a new database)."""
    try:
        if not path.is_file() or path.stat().st_size:
            return False
        return os.stat(f"{path}-wal").st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def empty_verdict(path: Path) -> str:
    """What every reader says of an empty journal file (:func:`is_empty`), with what to do:
    status, queue, journal check and the doctor alike."""
    return (f"journal {path} is empty (0 bytes): if this kiosk has made records, the journal "
            "was lost (truncated) and them with it: stop the kiosk (`sudo systemctl stop "
            f"kiosk-ui kiosk-upload`) and restore {path.name} from a backup; if it never "
            f"made one (a first start cut short), move it aside (`mv {path} "
            f"{path}.empty`) and the next start makes a new journal")


def check(path: Path, *, new: bool = False) -> str | None:
    """Refuse a newer schema; return why the file is corrupt, or None when it is sound.
    An empty file is corrupt (:data:`EMPTY_PROBLEM`) unless it is ``new`` (the writer just
    made it): taken for a new database, it would restart the record sequence silently.

    Uses a read-only connection: closing a read-write one on a damaged file may checkpoint
    into it or delete its -wal, and quarantine must keep the file and -wal as found (the
    -shm is an index SQLite rebuilds from the -wal; a read-only open may rewrite it).
    """
    if not new and is_empty(path):
        return EMPTY_PROBLEM
    with open(path, "rb") as f:
        head = f.read(len(_MAGIC))
    if head and head != _MAGIC:
        # Decided before SQLite sees it: SQLite would rewrite a -shm beside it.
        return "file is not a database (no SQLite header)"
    try:
        conn = connect_readonly(path)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        return str(exc)
    try:
        version = migrations.user_version(conn)
        latest = migrations.latest_version()
        if version > latest and not migrations.usable(conn):
            raise JournalError(
                f"journal {path} has schema version {version}, newer than this software "
                f"knows ({latest}); it was left untouched: install the newer kiosk software "
                "or move the file aside")
        # The bulk tables are skipped only at the version that has them: before the
        # payloads moved apart (version 4) they lived in ``steps``, checked in full.
        return quick_check(conn, skip=migrations.BULK_TABLES)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        return str(exc)
    finally:
        conn.close()


def open_checked(path: Path, boot_id: str, trusted: Callable[[], bool], *,
                 quarantine_corrupt: bool = True, new: bool = False) -> sqlite3.Connection:
    """With the writer lock held: check, connect, configure, migrate; quarantine if corrupt
    (only the journal's owner, ``quarantine_corrupt``: another process reports and stops,
    so it never moves the file from under the process that enrolls). ``new``: the caller
    has just made the (empty) file."""
    problem = check(path, new=new)
    if problem is not None and not quarantine_corrupt:
        raise JournalCorrupt(
            f"journal {path} failed its integrity check ({problem}); left as found: the "
            "process that enrolls (kiosk run, or kiosk demo) moves it aside when it starts")
    if problem is None:
        conn = connect(path)
        try:
            initialise(conn, boot_id, trusted)
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn
    moved = quarantine(path)
    log.error("journal %s failed its integrity check (%s); moved to %s", path, problem, moved)
    create_file(path)
    fresh = connect(path)
    try:
        initialise(fresh, boot_id, trusted)
        write_in(fresh, lambda c: insert_audit(
            c, "journal_quarantined", {"file": moved.name, "problem": problem[:MAX_DETAIL_CHARS]},
            boot_id, ask_clock(trusted)))
    finally:
        fresh.close()
    raise JournalCorrupt(
        f"journal {path} failed its integrity check ({problem}); it was moved to {moved} "
        "(with its -wal/-shm, if any) and a fresh journal was started. Enrollment is refused "
        f"until a maintainer has examined the moved file and taken it out of {path.parent} "
        f"(its sealed records: kiosk queue export --from {moved} --to DIR).")


def unreadable(path: Path, exc: sqlite3.Error) -> JournalError:
    """What a reader (status, queue, journal check) says of a journal it cannot read; a
    damaged one with what to do, as the writer's check would (a reader never moves it)."""
    if is_corruption(exc):
        return JournalCorrupt(
            f"journal {path} is damaged ({exc}); left as found: copy {path}* off the kiosk "
            "for recovery; the process that enrolls (kiosk run, or kiosk demo) moves it "
            "aside when it starts")
    return JournalError(f"cannot read journal {path}: {exc}")
