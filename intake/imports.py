"""``kiosk-intake import``: sealed records carried by hand (USB bundles, :mod:`kiosk.bundle`).

A kiosk without a link exports its sealed records to a USB stick as bundles (``kiosk queue
export``); at the central office each packet of each bundle is taken in **exactly as an
upload is**: through :meth:`intake.store.IntakeStore.accept`, with the ``sha256`` of the
bundle's index in the place of the upload's metadata. So the same checks apply (the bytes
against the index, the signature by the registered kiosk key, every step decrypted, a
second, different packet of a record refused, an unknown or revoked kiosk refused), the same
receipts are signed, and ``kiosk-intake stats`` counts imported records as received. The
receipts, and the refusals, go into a receipts file written beside the bundle (or in
``--out``), which the kiosk verifies receipt by receipt (``kiosk queue import``).

One exception, before a packet is read: a record the store holds already as exactly the
packet the index names (:meth:`intake.store.IntakeStore.accept_held`: the same kiosk, record
id and SHA-256) is a ``duplicate`` and gets the receipt of the packet held, whatever the
bundle's copy of it is. A stick imported twice, its copy damaged in between, so never turns
a record the intake holds into a refusal (nor counts it as rejected). That is safe: the
receipt names the SHA-256 of the packet held, which passed every check when it was stored,
and the kiosk acknowledges with it only the packet its journal rebuilds with that SHA-256.

How one packet goes in: it is streamed out of the tar (never whole in memory, and never more
than the index says) into a temporary file staged in ``DIR/records/<kiosk>/``, on the file
system the store links into, under the name :func:`intake.staging.staged_name` gives (hidden,
with this host and process), so the sweep of left-over staged files
(:func:`intake.staging.sweep_staged`, run by ``serve`` at start and by every ``import``)
removes what a killed import left. That file is handed to the store, then removed, whatever
the outcome. Each attempt gets an upload id of its own (``usb-<random>-<record>``): the
store's "processed" mark is per upload id, so a bundle refused because its kiosk was not
registered yet is taken in when imported again after ``kiosk-intake register``.

The data directory is locked as ``serve`` locks it (:func:`intake.backend.lock_data_dir`):
without ``--db`` exclusively (SQLite: no server may run on ``DIR`` meanwhile), with ``--db``
shared (any number of PostgreSQL-mode servers and imports share ``DIR``).

A kill (SIGKILL, a power cut, the stick pulled out) at any instant leaves either nothing of
a record, or its packet stored with or without its receipt and row: the store's own crash
rules (:mod:`intake.store`). Importing the bundle again completes them (a stored packet is a
``duplicate``, its receipt signed if it was missing). The receipts file is written last,
atomically and durably (:func:`kiosk.fsutil.write_atomic`; it works on a FAT stick): the
kiosk finds the previous one whole, or the new one whole, never half of one. Nothing
personal is printed or logged: packets are encrypted, and a refusal's reason is the store's
own words (record ids, key ids, steps and sizes).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from intake.backend import lock_data_dir, open_backend
from intake.receiver import load_keys
from intake.refusals import REFUSALS, safe_text
from intake.staging import stage_stream
from intake.store import IntakeStore, Outcome
from kiosk.bundle import BundleError, BundleReader, IndexEntry, Receipts, receipts_name
from kiosk.core.intake_api import RefusalCode
from kiosk.fsutil import make_dirs, write_atomic

__all__ = ["BundleResult", "import_bundle", "open_store", "upload_id"]

#: What an upload id of an import starts with (tus ids are hex: the two never meet).
UPLOAD_PREFIX = "usb-"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def upload_id(record_id: str) -> str:
    """The store's upload id for one attempt at importing ``record_id``: new every time."""
    return f"{UPLOAD_PREFIX}{secrets.token_hex(8)}-{record_id}"


@dataclass
class BundleResult:
    """What one bundle's import came to."""

    bundle: Path
    receipts_path: Path | None = None
    received: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    refused: dict[str, dict[str, object]] = field(default_factory=dict)
    error: str = ""  # the bundle could not be read (or its receipts file written)

    @property
    def complete(self) -> bool:
        """Every record of the bundle has its receipt."""
        return not self.error and not self.refused

    def summary(self) -> str:
        return (f"{self.bundle.name}: {len(self.received)} received, {len(self.duplicate)} "
                f"already held, {len(self.refused)} refused; receipts in {self.receipts_path}")


def _stage(records: Path, kiosk_id: str, entry: IndexEntry, source: IO[bytes],
           where: str) -> Path:
    """The packet ``entry`` copied from ``source`` into a temporary file staged in
    ``records/<kiosk>/`` under a name the sweep knows; at most ``entry.length`` bytes are
    read. Errors reading the bundle are BundleError; errors writing are OSError."""
    def read(size: int) -> bytes:
        try:
            return source.read(size)
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise BundleError(f"{where}: cannot read record {entry.record_id} "
                              f"({safe_text(exc, 120)}); export it again") from exc

    pkt = records / kiosk_id / f"{entry.record_id}.pkt"
    try:
        # no fsync: the store makes its own durable copy from this one
        return stage_stream(read, pkt, length=entry.length, durable=False)
    except EOFError as exc:
        raise BundleError(f"{where} is cut short in record {entry.record_id}; export it "
                          "again") from exc


def _accept_copy(store: IntakeStore, bundle: BundleReader, entry: IndexEntry) -> Outcome:
    """The bundle's copy of the packet ``entry`` staged and handed to the store."""
    kiosk_id, record_id = bundle.index.kiosk_id, entry.record_id
    make_dirs(store.records / kiosk_id)
    staged = None
    try:
        with bundle.packet(entry) as source:
            staged = _stage(store.records, kiosk_id, entry, source, bundle.path.name)
        return store.accept(upload_id(record_id), {
            "kiosk_id": kiosk_id, "record_id": record_id, "sha256": entry.sha256}, staged)
    finally:
        if staged is not None:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()


def _import_packet(store: IntakeStore, bundle: BundleReader, entry: IndexEntry,
                   result: BundleResult, receipts: Receipts) -> str:
    """One packet through the store; returns the line to print for it."""
    kiosk_id, record_id = bundle.index.kiosk_id, entry.record_id
    kiosk_dir = store.records / kiosk_id
    made_dir = not kiosk_dir.exists()
    # held already, as the very packet the index names: its receipt, whatever this copy is
    outcome = store.accept_held(upload_id(record_id), kiosk_id, record_id, entry.sha256)
    if outcome is None:
        outcome = _accept_copy(store, bundle, entry)
    if outcome.status == "rejected":
        if made_dir:  # nothing of this kiosk was here: leave no trace of it (empty only)
            with contextlib.suppress(OSError):
                kiosk_dir.rmdir()
        code = outcome.code
        reason = safe_text(outcome.reason)
        if code == RefusalCode.SHA256_MISMATCH:  # the store's words are an upload's
            reason = ("the packet's bytes are not those the bundle's index names (damaged on "
                      "the stick or in the copy); export it again")
        receipts.refused[record_id] = {"code": code, "reason": reason,
                                       "permanent": REFUSALS[code][0] if code in REFUSALS
                                       else True}
        result.refused[record_id] = receipts.refused[record_id]
        return f"refused {record_id} [{code}]: {reason}"
    status, body = store.receipt(kiosk_id, record_id)
    if status != 200 or not isinstance(body, bytes):  # stored, so its receipt is on disk
        raise OSError(f"record {record_id} is stored but its receipt cannot be read")
    receipts.receipts[record_id] = body
    if outcome.status == "received":
        result.received.append(record_id)
        return f"received {record_id}"
    result.duplicate.append(record_id)  # duplicate, or replayed (processed already)
    return f"duplicate {record_id}"


def import_bundle(store: IntakeStore, path: Path, out: Path | None,
                  say: Callable[[str], None]) -> BundleResult:
    """Import the bundle ``path`` into ``store`` and write its receipts file (in ``out``,
    else beside the bundle), calling ``say`` with each record's line. A bundle that cannot
    be read, or whose receipts file cannot be written, comes back with ``error`` set (what
    was stored before stays stored: the next import finds it a duplicate). Errors of the
    store itself (a full disk, the database gone) propagate."""
    result = BundleResult(Path(path))
    try:
        bundle = BundleReader(path)
    except BundleError as exc:
        result.error = str(exc)
        return result
    except OSError as exc:
        result.error = f"cannot read {path}: {exc.strerror or exc}"
        return result
    with bundle:
        receipts = Receipts(bundle.index.kiosk_id, Path(path).name, _now())
        for entry in bundle:
            try:
                line = _import_packet(store, bundle, entry, result, receipts)
            except BundleError as exc:
                result.error = str(exc)
                return result
            say(line)
    target = (out if out is not None else Path(path).parent) / receipts_name(Path(path).name)
    receipts.created_at = _now()
    try:
        # mode None: beside the bundle is a stick's FAT, which keeps no modes and refuses
        # a chmod; the receipts are signed and public
        write_atomic(target, receipts.dumps(), None, overwrite=True)
    except OSError as exc:
        result.error = (f"cannot write the receipts file {target}: "
                        f"{exc.strerror or exc}; the records are stored: import the bundle "
                        "again where the receipts file can be written (--out DIR)")
        return result
    result.receipts_path = target
    return result


@contextlib.contextmanager
def open_store(data: Path, db: str | None) -> Iterator[IntakeStore]:
    """The store of the data directory ``data``, locked as ``serve`` locks it, its
    left-over staged files swept; closed and unlocked on leaving. Raises
    :class:`intake.backend.DataDirBusy` (a server holds the lock), SealingError (keys),
    OSError, ValueError or psycopg's errors."""
    central, intake_key = load_keys(data)  # before the lock file is made: is DIR an intake's?
    lock_fd = lock_data_dir(data, shared=db is not None)
    try:
        backend = open_backend(data, db)
        try:
            store = IntakeStore(data, central, intake_key, metadata=backend.metadata)
            try:
                store.sweep_staged()
                yield store
            finally:
                store.close()
        finally:
            backend.close()
    finally:
        os.close(lock_fd)


def run(data: Path, paths: list[Path], out: Path | None, db: str | None,
        say: Callable[[str], None] = print,
        warn: Callable[[str], None] | None = None) -> bool:
    """Import every bundle of ``paths`` (files found already) into the store of ``data``;
    True when every record of every bundle has its receipt. Errors opening the store
    propagate (the caller says what they mean)."""
    def _warn(text: str) -> None:
        print(f"kiosk-intake import: {text}", file=sys.stderr)

    warn = warn or _warn
    ok = True
    with open_store(data, db) as store:
        for path in paths:
            result = import_bundle(store, path, out, say)
            if result.error:
                warn(result.error)
                ok = False
                continue
            ok = ok and result.complete
            say(result.summary())
    return ok
