"""The intake's record store: packets and receipts on disk, counters in ``intake.db`` (or in
PostgreSQL with ``serve --db``: :mod:`intake.pg`, several processes sharing ``DIR``).

What a completed upload becomes (``docs/upload.md``, "The intake, on a completed upload"):
the packet is checked against the upload's ``sha256`` metadata and its own signed
manifest, opened (signature by the registered kiosk key, every step decrypted), stored as
``DIR/records/<kiosk>/<record>.pkt``, and only then is a receipt signed and stored beside it
as ``.receipt``. A receipt therefore never exists for a packet that is not on disk.

Crash safety, with a SIGKILL or a power cut at any instant:

* files are written temp-file, fsync, rename (hard link for packets, so one is never
  replaced), fsync directory;
* the database (WAL, ``synchronous=FULL``) is written *after* the files, in one
  transaction per upload that also notes the tus upload id as processed. Replaying an
  upload after a crash therefore finds either nothing (start again), the packet without
  its receipt or row (finish them), or the processed mark (nothing to count twice);
* counters: ``received`` is the number of stored records (a row each), ``duplicates`` and
  ``rejected`` are counted in that same transaction.

The packet is checked from its file (:mod:`intake.packets`: cheapest check first, the
signature before anything large is parsed or decrypted, one step in memory at a time) and
copied beside its final name before the store's lock is taken; the lock covers only the
processed mark, the link, the receipt and the row. Refusal reasons are kept per (kiosk,
record) for the receipt endpoint's ``422``; they come from :mod:`intake.packets` and
:class:`~kiosk.sealing.Opener` and name record ids, key ids, steps and sizes only. Decrypted
data is dropped as soon as the packet has been proven to open: the intake keeps packets,
never plaintext, and logs nothing personal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from intake import devices
from intake.devices import Device
from intake.packets import HASH_BLOCK, Refused, file_sha256, manifest_of, verify_and_open
from kiosk.core.ids import is_record_id
from kiosk.fsutil import fsync_dir, make_dirs, write_atomic
from kiosk.receipts import IntakeKey, sign_receipt
from kiosk.sealing import Opener

log = logging.getLogger(__name__)

_KEY_ID = re.compile(r"[0-9a-f]{16}")
DIFFERENT_PACKET = "a different packet was already received for this record"
# A staged packet copy (``_staged_name``) or a temporary receipt (``write_atomic``: no host)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"
_TEMPORARY = re.compile(
    r"\..+\.(?:pkt|receipt)\.tmp-(?:(?P<host>[A-Za-z0-9._]+)-)?(?P<pid>[0-9]+)-[0-9a-f]{8}")
STALE_STAGED_S = 3600.0  # a temporary file this old is left over, whoever made it
MAX_REASON_CHARS = 300
_SCHEMA_VERSION = 2

# Why a completed upload is refused: code -> (permanent, what it means). A permanent refusal
# is final for that packet (the kiosk moves the record to `rejected` and never resends it
# by itself); a temporary one asks for a fresh upload. docs/upload.md lists them.
REFUSALS: dict[str, tuple[bool, str]] = {
    "malformed_metadata": (True, "the upload's kiosk_id/record_id metadata are malformed"),
    "sha256_mismatch": (False, "the bytes received do not match the sha256 metadata"),
    "ids_mismatch": (True, "the metadata and the packet's manifest name different records"),
    "unknown_kiosk": (True, "no kiosk of that id is registered"),
    "revoked_kiosk": (True, "the kiosk's registration was revoked"),
    "wrong_key": (True, "the packet is signed by a key that is not the kiosk's"),
    "bad_signature": (True, "the manifest's signature does not verify"),
    "undecryptable": (True, "a step does not decrypt with this intake's central key"),
    "malformed_packet": (True, "the packet does not parse, or its parts do not match"),
    "layout_mismatch": (True, "the packet's length or blob table differs from its signed "
                              "manifest"),
    "too_large": (True, "a step of the packet is larger than the intake takes"),
    "different_packet": (True, DIFFERENT_PACKET),
    # refusals of a request, not of a packet (docs/upload.md, "Kiosk authentication")
    "unsigned": (False, "the request is not signed by a kiosk's device key"),
    "too_many_uploads": (False, "the kiosk has as many unfinished uploads as the intake "
                                "allows; one must finish or expire first"),
    "busy": (False, "every worker that processes completed uploads is busy; send the end "
                    "of the upload again later"),
}


def safe_text(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` made safe for a log line or a stored reason: printable ASCII only (anything
    else as ``\\xNN``/``\\uNNNN`` escapes), on one line, at most ``limit`` characters."""
    escaped = str(text).encode("ascii", "backslashreplace").decode("ascii")
    cleaned = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in escaped)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str

    @property
    def permanent(self) -> bool:
        return REFUSALS[self.code][0]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kiosk_id TEXT NOT NULL, record_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    length INTEGER NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, record_id));
CREATE TABLE IF NOT EXISTS rejections (
    kiosk_id TEXT NOT NULL, record_id TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT 'malformed_packet', PRIMARY KEY (kiosk_id, record_id));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS processed (upload_id TEXT PRIMARY KEY, outcome TEXT NOT NULL,
    at TEXT NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('duplicates', 0), ('rejected', 0);
"""


def valid_record_id(kiosk_id: str, record_id: str) -> bool:
    """``record_id`` has the shape ``{kiosk}-{seq:07d}-{6 hex}`` and ``kiosk_id`` is valid,
    so both are safe as path components (:func:`kiosk.core.ids.is_record_id`)."""
    return is_record_id(record_id, kiosk_id)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _staged_name(path: Path) -> str:
    """The name of a copy staged beside ``path``: hidden, with this host and process, so
    that :meth:`IntakeStore.sweep_staged` can tell one a stopped process left behind."""
    return f".{path.name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    return False


def _link_new(staged: Path, path: Path) -> bool:
    """Give the durable file ``staged`` the name ``path``, never replacing one; False when
    ``path`` exists already."""
    try:
        os.link(staged, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if path.exists():  # file systems without hard links: check, then rename
            return False
        os.replace(staged, path)
    fsync_dir(path.parent)
    return True


@dataclass(frozen=True)
class Outcome:
    """What became of one completed upload: ``received``, ``duplicate``, ``rejected``, or
    ``replayed`` (this upload id was already processed before a crash; nothing counted)."""

    status: str
    kiosk_id: str
    record_id: str
    reason: str = ""
    code: str = ""


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
            return _stats(self._db)


class IntakeStore:
    """Owns ``DIR/records`` and the metadata (``DIR/intake.db`` unless ``metadata`` says
    otherwise). Thread-safe: one completed upload is processed at a time in a process;
    processes sharing ``DIR`` and a PostgreSQL agree through its unique rows and through
    packet files that are linked into place, never overwritten."""

    def __init__(self, data: Path, central_private_key: bytes, intake_key: IntakeKey,
                 registration: Callable[[str], Device | None] | None = None,
                 metadata: Metadata | None = None) -> None:
        self.data = Path(data)
        self.records = self.data / "records"
        self._central_private_key = central_private_key
        self._intake_key = intake_key
        # read per packet: `register` and `revoke` need no restart
        self._registration = registration or (lambda kiosk: devices.registration(data, kiosk))
        self._lock = threading.Lock()
        make_dirs(self.records)
        self._meta = metadata if metadata is not None else SQLiteMetadata(
            self.data / "intake.db")

    def close(self) -> None:
        with self._lock:
            self._meta.close()

    def _paths(self, kiosk_id: str, record_id: str) -> tuple[Path, Path]:
        base = self.records / kiosk_id / record_id
        return base.with_suffix(".pkt"), base.with_suffix(".receipt")

    # -- a completed upload ---------------------------------------------------------------
    def accept(self, upload_id: str, metadata: Mapping[str, str], packet: Path) -> Outcome:
        """Steps 1-4 of the protocol for one completed upload, whose bytes are the file
        ``packet``. Idempotent per upload id.

        The packet is checked (:mod:`intake.packets`: hashed, its manifest verified, opened
        a step at a time) and copied beside its final name *before* the store's lock is
        taken; the lock covers only what must be atomic (the processed mark, the link into
        place, the receipt and the row), so one expensive packet never stalls another
        kiosk's completion or receipt.
        """
        kiosk_id = str(metadata.get("kiosk_id", ""))
        record_id = str(metadata.get("record_id", ""))
        if self._processed(upload_id):
            return Outcome("replayed", kiosk_id, record_id)
        if not valid_record_id(kiosk_id, record_id):  # _on_create refuses these
            kiosk_id, record_id = safe_text(kiosk_id, 40), safe_text(record_id, 60)
            log.warning("upload %s refused: malformed kiosk_id/record_id", upload_id)
            return Outcome("rejected", kiosk_id, record_id,
                           REFUSALS["malformed_metadata"][1], "malformed_metadata")
        refusal, digest, length = self.check(metadata, packet, kiosk_id, record_id)
        staged = None
        if refusal is None:
            staged = self._stage(packet, kiosk_id, record_id)
        try:
            with self._lock:
                if self._meta.processed(upload_id):  # processed meanwhile
                    return Outcome("replayed", kiosk_id, record_id)
                if refusal is not None:
                    return self._reject(upload_id, kiosk_id, record_id, refusal)
                return self._store(upload_id, kiosk_id, record_id, staged, digest, length)
        finally:
            if staged is not None:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()

    def _processed(self, upload_id: str) -> bool:
        with self._lock:
            return self._meta.processed(upload_id)

    def registration(self, kiosk_id: str) -> Device | None:
        return self._registration(kiosk_id)

    def check_kiosk(self, kiosk_id: str) -> Refusal | None:
        """Is ``kiosk_id`` registered and not revoked? (also asked before an upload starts)"""
        device = self._registration(kiosk_id)
        if device is None:
            return Refusal("unknown_kiosk", f"kiosk {safe_text(kiosk_id, 40)} is not "
                           "registered at this intake (kiosk-intake register)")
        if device.revoked:
            return Refusal("revoked_kiosk", f"kiosk {kiosk_id} is revoked"
                           + (f" (since {safe_text(device.revoked_at, 40)})"
                              if device.revoked_at else ""))
        return None

    def check(self, metadata: Mapping[str, str], packet: Path, kiosk_id: str,
              record_id: str) -> tuple[Refusal | None, str, int]:
        """Steps 1 and 2 (and the 'different packet' half of 4) on the file ``packet``:
        (None when the packet is good, its SHA-256, its length). ``kiosk_id``/``record_id``
        are valid ids here. Takes no lock; the order of checks is :mod:`intake.packets`'."""
        digest, length = file_sha256(packet)
        if digest != metadata.get("sha256"):
            return Refusal("sha256_mismatch",
                           "the received bytes do not match the upload's sha256 metadata "
                           "(upload data lost or altered); start a fresh upload"), digest, length
        try:
            refusal = self._check_packet(packet, length, digest, kiosk_id, record_id)
        except Refused as exc:
            refusal = Refusal(exc.code, safe_text(exc.reason))
        return refusal, digest, length

    def _check_packet(self, packet: Path, length: int, digest: str, kiosk_id: str,
                      record_id: str) -> Refusal | None:
        with open(packet, "rb") as stream:
            signed, manifest = manifest_of(stream, length)
            if (manifest["kiosk_id"], manifest["record_id"]) != (kiosk_id, record_id):
                return Refusal("ids_mismatch", f"upload metadata names record {record_id} of "
                               f"kiosk {kiosk_id}, the packet's manifest another")
            pkt, _receipt = self._paths(kiosk_id, record_id)
            if pkt.exists():
                if file_sha256(pkt)[0] == digest:
                    return None
                return Refusal("different_packet", DIFFERENT_PACKET)
            refusal = self.check_kiosk(kiosk_id)
            if refusal is not None:
                return refusal
            device = self._registration(kiosk_id)
            assert device is not None  # noqa: S101 -- check_kiosk said so
            claimed = manifest["device_key_id"]
            if claimed != device.key_id:
                shown = claimed if _KEY_ID.fullmatch(claimed) else "(malformed)"
                return Refusal("wrong_key", f"the packet is signed by key {shown}, which does "
                               f"not belong to kiosk {kiosk_id} (its key is {device.key_id})")
            opener = Opener(self._central_private_key, {device.key_id: device.public_key})
            verify_and_open(stream, length, signed, manifest, opener)
        return None

    def _stage(self, packet: Path, kiosk_id: str, record_id: str) -> Path:
        """A durable copy of ``packet`` beside its final name, made outside the lock
        (streamed: the packet is never whole in memory); :meth:`_store` links it in."""
        pkt, _receipt = self._paths(kiosk_id, record_id)
        make_dirs(pkt.parent)
        staged = pkt.with_name(_staged_name(pkt))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(staged, flags, 0o640)
        try:
            os.fchmod(fd, 0o640)
            with open(packet, "rb") as source:
                while block := source.read(HASH_BLOCK):
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
            raise
        os.close(fd)
        return staged

    def sweep_staged(self) -> int:
        """Remove the temporary files a stopped process left in ``DIR/records`` (a staged
        packet copy, or a receipt being written, never linked into place): on this host
        those whose process is gone, on any host (the directory may be shared, with
        ``--db``) those older than :data:`STALE_STAGED_S`. Returns how many went."""
        removed = 0
        now = time.time()
        with contextlib.suppress(FileNotFoundError), os.scandir(self.records) as kiosks:
            for kiosk in kiosks:
                if not kiosk.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError), os.scandir(kiosk.path) as files:
                    for entry in files:
                        found = _TEMPORARY.fullmatch(entry.name)
                        if found is None:
                            continue
                        try:
                            age = now - entry.stat(follow_symlinks=False).st_mtime
                        except FileNotFoundError:
                            continue
                        gone = found["host"] == _HOST and _process_gone(int(found["pid"]))
                        if gone or age > STALE_STAGED_S:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
                                removed += 1
        if removed:
            log.info("removed %d temporary file(s) a stopped process left in %s", removed,
                     self.records)
        return removed

    def _reject(self, upload_id: str, kiosk_id: str, record_id: str,
                refusal: Refusal) -> Outcome:
        at = _now()
        reason = safe_text(refusal.reason)
        if not self._meta.reject(upload_id, kiosk_id, record_id, reason, refusal.code, at):
            return Outcome("replayed", kiosk_id, record_id)
        log.warning("refused record %s of kiosk %s (%s): %s", record_id, kiosk_id,
                    refusal.code, reason)
        return Outcome("rejected", kiosk_id, record_id, reason, refusal.code)

    def _store(self, upload_id: str, kiosk_id: str, record_id: str, staged: Path | None,
               digest: str, length: int) -> Outcome:
        """Step 3 (or the 'same packet' half of 4): packet, then receipt, then the row.
        Under the lock: a link of the staged copy and a small receipt, no packet bytes."""
        pkt, receipt = self._paths(kiosk_id, record_id)
        assert staged is not None  # noqa: S101 -- accept staged the checked packet
        # Stored already: the same bytes (check compared them), unless another upload of
        # this record was stored since, here or by another intake process sharing DIR.
        if not _link_new(staged, pkt) and file_sha256(pkt)[0] != digest:
            return self._reject(upload_id, kiosk_id, record_id,
                                Refusal("different_packet", DIFFERENT_PACKET))
        if not receipt.exists():
            body = sign_receipt(self._intake_key, kiosk_id, record_id, digest, length, _now())
            with contextlib.suppress(FileExistsError):  # another process's, for these bytes
                write_atomic(receipt, body, 0o644, overwrite=False)
        status = self._meta.stored(upload_id, kiosk_id, record_id, digest, length, _now())
        if status == "replayed":
            return Outcome(status, kiosk_id, record_id)
        log.info("%s record %s of kiosk %s", status, record_id, kiosk_id)
        return Outcome(status, kiosk_id, record_id)

    # -- the receipt endpoint -------------------------------------------------------------
    def receipt(self, kiosk_id: str, record_id: str) -> tuple[int, bytes | Refusal | str]:
        """``(200, receipt bytes)``, ``(422, Refusal)`` or ``(404, message)``."""
        if not valid_record_id(kiosk_id, record_id):
            return 404, "no such record"
        _pkt, path = self._paths(kiosk_id, record_id)
        try:
            return 200, path.read_bytes()
        except FileNotFoundError:
            pass
        row = self._meta.rejection(kiosk_id, record_id)
        if row is not None:
            code = row[1] if row[1] in REFUSALS else "malformed_packet"
            return 422, Refusal(code, row[0])
        return 404, "not received"

    def stats(self) -> dict[str, Any]:
        return self._meta.stats()


def _stats(db: sqlite3.Connection) -> dict[str, Any]:
    counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
    kiosks = dict(db.execute(
        "SELECT kiosk_id, COUNT(*) FROM records GROUP BY kiosk_id ORDER BY kiosk_id").fetchall())
    refused = db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0]
    return {"received": sum(kiosks.values()), "duplicates": int(counters.get("duplicates", 0)),
            "rejected": int(counters.get("rejected", 0)), "kiosks": kiosks,
            "records_refused": int(refused)}


def read_stats(data: Path) -> dict[str, Any]:
    """Counters for ``kiosk-intake stats``: read-only, safe while the server runs."""
    path = Path(data) / "intake.db"
    if not path.exists():
        return {"received": 0, "duplicates": 0, "rejected": 0, "kiosks": {},
                "records_refused": 0}
    # With the server running (its -wal exists) share its WAL index read-only. Without it,
    # the database is fully checkpointed: read it as immutable, so that an operator's
    # `sudo kiosk-intake stats` does not leave root-owned -wal/-shm files that the server's
    # own user could then not open.
    live = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if live else "immutable=1"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=10)
    try:
        return _stats(db)
    finally:
        db.close()
