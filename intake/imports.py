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
kiosk finds the previous one whole, or the new one whole, never half of one.

A receipts file already there (the stick imported before) is merged into, never simply
replaced: per record, a receipt this intake signed beats a refusal (the earlier file's
receipt stays when this import refuses the record: the summary counts them), a refusal
stays until a receipt or another refusal for that record comes, and this import's results
beat the earlier ones otherwise. One that holds a receipt another intake signed (its key
id named in it; the stick went to the office's intake, and now to another), or that is for
another kiosk, or cannot be read, is kept as it is: the bundle's receipts file is not
written, the error names it and ``--out DIR`` (exit 1; what was stored stays stored). So
the file the kiosk finds (``kiosk queue import`` reads every ``*.receipts`` on the stick and
verifies each receipt with its ``upload.intake_key``) is never a worse one. A file that
does not read as a receipts file (cut short, damaged) holds nothing of use: replaced. Nothing
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
from kiosk.bundle import (
    BundleError,
    BundleReader,
    IndexEntry,
    Receipts,
    load_receipts,
    receipts_name,
    refusal_action,
)
from kiosk.core.ids import KEY_ID
from kiosk.core.intake_api import RefusalCode
from kiosk.fsutil import make_dirs, write_atomic
from kiosk.receipts import ReceiptError, receipt_fields, verify_receipt
from kiosk.sealing_keys import key_id

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
    #: refused now, but the receipts file keeps the receipt this intake gave them before
    kept: list[str] = field(default_factory=list)
    error: str = ""  # the bundle could not be read (or its receipts file written)

    @property
    def complete(self) -> bool:
        """Every record of the bundle has its receipt."""
        return not self.error and not self.refused

    def summary(self) -> str:
        kept = (f" (it keeps the receipts this intake gave before for {len(self.kept)} of "
                "the records refused now)" if self.kept else "")
        return (f"{self.bundle.name}: {len(self.received)} received, {len(self.duplicate)} "
                f"already held, {len(self.refused)} refused; receipts in "
                f"{self.receipts_path}{kept}")


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
                      "the stick or in the copy)")
        # the reason only: the kiosk says what to do from the code (refusal_action)
        receipts.refused[record_id] = {"code": code, "reason": reason,
                                       "permanent": REFUSALS[code][0] if code in REFUSALS
                                       else True}
        result.refused[record_id] = receipts.refused[record_id]
        return f"refused {record_id} [{code}]: {reason} ({refusal_action(code, record_id)})"
    status, body = store.receipt(kiosk_id, record_id)
    if status != 200 or not isinstance(body, bytes):  # stored, so its receipt is on disk
        raise OSError(f"record {record_id} is stored but its receipt cannot be read")
    receipts.receipts[record_id] = body
    if outcome.status == "received":
        result.received.append(record_id)
        return f"received {record_id}"
    result.duplicate.append(record_id)  # duplicate, or replayed (processed already)
    return f"duplicate {record_id}"


class _KeepIt(Exception):
    """The receipts file already where this import writes its own is not to be replaced
    (the message says why, and what to do)."""


def _signed_here(receipt: bytes, public_key: bytes, kiosk_id: str, record_id: str) -> bool:
    """``receipt`` is one this intake signed, for this kiosk's record ``record_id``."""
    try:
        fields = receipt_fields(receipt)
        verify_receipt(receipt, public_key, kiosk_id=kiosk_id, record_id=record_id,
                       packet_sha256=fields["packet_sha256"])
    except ReceiptError:
        return False
    return True


def _foreign_key(receipt: bytes, ours: str) -> str | None:
    """The intake key id another intake's ``receipt`` names (None: it names this intake's
    key, or none that reads: a damaged receipt, worth nothing to anyone)."""
    try:
        claimed = receipt_fields(receipt)["intake_key_id"]
    except ReceiptError:
        return None
    return claimed if claimed != ours and KEY_ID.fullmatch(claimed) else None


def _earlier_receipts(target: Path, kiosk_id: str, public_key: bytes) -> Receipts | None:
    """The receipts file already at ``target``, to merge this import's results into: None
    when there is none, or none that reads (damaged: nothing in it is of use). Raises
    :class:`_KeepIt` when it is not this intake's to replace: it holds receipts another
    intake signed (the stick was imported at the office's intake, and now at another), or
    it is for another kiosk, or it cannot be read."""
    where = target.name
    try:
        earlier = load_receipts(target)
    except (FileNotFoundError, IsADirectoryError):  # a directory: writing it names it
        return None
    except BundleError:
        return None
    except OSError as exc:
        raise _KeepIt(f"cannot read the receipts file {target} already there "
                      f"({exc.strerror or exc}): it is not replaced; import again with "
                      "--out DIR to write this import's receipts elsewhere") from exc
    if earlier.kiosk_id != kiosk_id:
        raise _KeepIt(f"{where} is there already, for kiosk {earlier.kiosk_id}, not this "
                      f"bundle's kiosk {kiosk_id}: it is kept; import again with --out DIR "
                      "to write this import's receipts elsewhere")
    ours = key_id(public_key)
    for body in earlier.receipts.values():
        other = _foreign_key(body, ours)
        if other is not None:
            raise _KeepIt(
                f"{where} is there already with receipts another intake signed (intake key "
                f"{other}; this intake's is {ours}): it is kept, the kiosk may need them. "
                "Is this the office's intake (--data)? To write this import's receipts "
                "anyway, import again with --out DIR, and give the kiosk only the receipts "
                "file that verifies with its upload.intake_key")
    return earlier


def _merge(earlier: Receipts, receipts: Receipts, public_key: bytes) -> list[str]:
    """``receipts`` (this import's) completed with the receipts file there before it, per
    record: a receipt this intake signed beats a refusal, a refusal stays until a receipt
    or another refusal comes; this import's receipts and refusals beat the earlier ones
    otherwise. Returns the records this import refused that keep their earlier receipt."""
    kept = []
    refused_now = set(receipts.refused)
    decided = refused_now | set(receipts.receipts)
    for record_id, refusal in earlier.refused.items():
        if record_id not in decided:
            receipts.refused[record_id] = refusal
    for record_id, body in earlier.receipts.items():
        if record_id in receipts.receipts or not _signed_here(
                body, public_key, receipts.kiosk_id, record_id):
            continue
        if record_id in refused_now:
            kept.append(record_id)
        receipts.refused.pop(record_id, None)
        receipts.receipts[record_id] = body
    return sorted(kept)


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
    try:
        earlier = _earlier_receipts(target, receipts.kiosk_id, store.intake_public_key)
    except _KeepIt as exc:
        result.error = str(exc) + ("; the records this import took are stored"
                                   if result.received or result.duplicate else "")
        return result
    if earlier is not None:
        result.kept = _merge(earlier, receipts, store.intake_public_key)
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
