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

The jobs beside this one: why a packet is refused (:mod:`intake.refusals`), what is kept
about records (:mod:`intake.metadata`, the ``Metadata`` interface and its SQLite side), and
the packet files being staged, linked and swept (:mod:`intake.staging`). This module ties
them together for one completed upload and answers the receipt endpoint.

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
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intake import devices
from intake.devices import Device
from intake.metadata import Metadata, SQLiteMetadata, read_stats
from intake.packets import Refused, file_sha256, manifest_of, verify_and_open
from intake.refusals import DIFFERENT_PACKET, MAX_REASON_CHARS, REFUSALS, Refusal, safe_text
from intake.staging import STALE_STAGED_S, link_new, stage_copy, staged_name, sweep_staged
from kiosk.core.ids import KEY_ID, is_record_id
from kiosk.core.intake_api import KIOSK_ID_KEY, RECORD_ID_KEY, SHA256_KEY, RefusalCode
from kiosk.fsutil import make_dirs, write_atomic
from kiosk.receipts import IntakeKey, sign_receipt
from kiosk.sealing import Opener

# Also importable from here, where they were before the store was split along its jobs.
__all__ = [
    "DIFFERENT_PACKET",
    "MAX_REASON_CHARS",
    "REFUSALS",
    "STALE_STAGED_S",
    "IntakeStore",
    "Metadata",
    "Outcome",
    "Refusal",
    "SQLiteMetadata",
    "read_stats",
    "safe_text",
    "valid_record_id",
]

log = logging.getLogger(__name__)



def valid_record_id(kiosk_id: str, record_id: str) -> bool:
    """``record_id`` has the shape ``{kiosk}-{seq:07d}-{6 hex}`` and ``kiosk_id`` is valid,
    so both are safe as path components (:func:`kiosk.core.ids.is_record_id`)."""
    return is_record_id(record_id, kiosk_id)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outcome:
    """What became of one completed upload: ``received``, ``duplicate``, ``rejected``, or
    ``replayed`` (this upload id was already processed before a crash; nothing counted)."""

    status: str
    kiosk_id: str
    record_id: str
    reason: str = ""
    code: str = ""


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

    @property
    def intake_public_key(self) -> bytes:
        """The public half of the key this store signs receipts with (32 bytes)."""
        return self._intake_key.public_bytes

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
        kiosk_id = str(metadata.get(KIOSK_ID_KEY, ""))
        record_id = str(metadata.get(RECORD_ID_KEY, ""))
        if self._processed(upload_id):
            return Outcome("replayed", kiosk_id, record_id)
        if not valid_record_id(kiosk_id, record_id):  # _on_create refuses these
            kiosk_id, record_id = safe_text(kiosk_id, 40), safe_text(record_id, 60)
            log.warning("upload %s refused: malformed kiosk_id/record_id", upload_id)
            return Outcome("rejected", kiosk_id, record_id,
                           REFUSALS[RefusalCode.MALFORMED_METADATA][1],
                           RefusalCode.MALFORMED_METADATA)
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

    def accept_held(self, upload_id: str, kiosk_id: str, record_id: str,
                    sha256: str) -> Outcome | None:
        """A record this store holds already, as exactly the packet whose SHA-256 is
        ``sha256``: completed and counted as :meth:`accept` completes and counts the same
        packet again (a ``duplicate``; ``received`` when a crash left it without its row; its
        receipt signed if missing), without reading the bytes of this copy of it. None when
        the store does not hold that packet (no packet, or another one): then :meth:`accept`
        the copy.

        For ``kiosk-intake import``: a bundle's index names each packet's SHA-256, and a
        copy damaged on the stick of a record held already is no reason to refuse it. The
        receipt is the one of the packet held, a packet that passed every check when it was
        linked into place (a packet file exists only then, and is never replaced), and it
        names that packet's SHA-256: it acknowledges nothing but that packet at the kiosk
        (:func:`kiosk.receipts.verify_receipt`)."""
        if not valid_record_id(kiosk_id, record_id):
            return None
        pkt, _receipt = self._paths(kiosk_id, record_id)
        try:
            digest, length = file_sha256(pkt)
        except FileNotFoundError:
            return None
        if digest != sha256.lower():
            return None
        with self._lock:
            if self._meta.processed(upload_id):
                return Outcome("replayed", kiosk_id, record_id)
            return self._finish(upload_id, kiosk_id, record_id, digest, length)

    def _processed(self, upload_id: str) -> bool:
        with self._lock:
            return self._meta.processed(upload_id)

    def registration(self, kiosk_id: str) -> Device | None:
        return self._registration(kiosk_id)

    def check_kiosk(self, kiosk_id: str) -> Refusal | None:
        """Is ``kiosk_id`` registered and not revoked? (also asked before an upload starts)"""
        device = self._registration(kiosk_id)
        if device is None:
            return Refusal(RefusalCode.UNKNOWN_KIOSK, f"kiosk {safe_text(kiosk_id, 40)} is not "
                           "registered at this intake (kiosk-intake register)")
        if device.revoked:
            return Refusal(RefusalCode.REVOKED_KIOSK, f"kiosk {kiosk_id} is revoked"
                           + (f" (since {safe_text(device.revoked_at, 40)})"
                              if device.revoked_at else ""))
        return None

    def check(self, metadata: Mapping[str, str], packet: Path, kiosk_id: str,
              record_id: str) -> tuple[Refusal | None, str, int]:
        """Steps 1 and 2 (and the 'different packet' half of 4) on the file ``packet``:
        (None when the packet is good, its SHA-256, its length). ``kiosk_id``/``record_id``
        are valid ids here. Takes no lock; the order of checks is :mod:`intake.packets`'."""
        digest, length = file_sha256(packet)
        if digest != metadata.get(SHA256_KEY):
            return Refusal(RefusalCode.SHA256_MISMATCH,
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
                return Refusal(RefusalCode.IDS_MISMATCH, f"upload metadata names record "
                               f"{record_id} of kiosk {kiosk_id}, the packet's manifest another")
            pkt, _receipt = self._paths(kiosk_id, record_id)
            if pkt.exists():
                if file_sha256(pkt)[0] == digest:
                    return None
                return Refusal(RefusalCode.DIFFERENT_PACKET, DIFFERENT_PACKET)
            refusal = self.check_kiosk(kiosk_id)
            if refusal is not None:
                return refusal
            device = self._registration(kiosk_id)
            assert device is not None  # noqa: S101 -- check_kiosk said so
            claimed = manifest["device_key_id"]
            if claimed != device.key_id:
                shown = claimed if KEY_ID.fullmatch(claimed) else "(malformed)"
                return Refusal(RefusalCode.WRONG_KEY, f"the packet is signed by key {shown}, "
                               f"which does not belong to kiosk {kiosk_id} (its key is "
                               f"{device.key_id})")
            opener = Opener(self._central_private_key, {device.key_id: device.public_key})
            verify_and_open(stream, length, signed, manifest, opener)
        return None

    def _stage(self, packet: Path, kiosk_id: str, record_id: str) -> Path:
        """A durable copy of ``packet`` beside its final name, made outside the lock
        (streamed: the packet is never whole in memory); :meth:`_store` links it in."""
        pkt, _receipt = self._paths(kiosk_id, record_id)
        return stage_copy(packet, pkt)

    def sweep_staged(self) -> int:
        """Remove the temporary files a stopped process left in ``DIR/records``
        (:func:`intake.staging.sweep_staged`). Returns how many went."""
        return sweep_staged(self.records)

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
        pkt, _receipt = self._paths(kiosk_id, record_id)
        assert staged is not None  # noqa: S101 -- accept staged the checked packet
        # Stored already: the same bytes (check compared them), unless another upload of
        # this record was stored since, here or by another intake process sharing DIR.
        if not link_new(staged, pkt) and file_sha256(pkt)[0] != digest:
            return self._reject(upload_id, kiosk_id, record_id,
                                Refusal(RefusalCode.DIFFERENT_PACKET, DIFFERENT_PACKET))
        return self._finish(upload_id, kiosk_id, record_id, digest, length)

    def _finish(self, upload_id: str, kiosk_id: str, record_id: str, digest: str,
                length: int) -> Outcome:
        """The packet ``digest`` is in place: its receipt (signed if missing), then its row.
        Under the lock."""
        _pkt, receipt = self._paths(kiosk_id, record_id)
        if not receipt.exists():
            body = sign_receipt(self._intake_key, kiosk_id, record_id, digest, length, _now())
            with contextlib.suppress(FileExistsError):  # another process's, for these bytes
                # named like a staged packet (host and process): a sweep after a kill
                # here removes it at once, not an hour later
                write_atomic(receipt, body, 0o644, overwrite=False,
                             temporary=staged_name(receipt))
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
            code = row[1] if row[1] in REFUSALS else RefusalCode.MALFORMED_PACKET
            return 422, Refusal(code, row[0])
        return 404, "not received"

    def stats(self) -> dict[str, Any]:
        return self._meta.stats()
