"""Receipts: the intake's signed proof that it holds a record's packet.

A kiosk may delete a record's payload only once the central office provably has it. After
an upload (``docs/upload.md``) the intake stores the packet durably and *then* signs a
receipt with its own Ed25519 key; the kiosk journals the receipt together with the move to
``acknowledged``. Because the receipt names the SHA-256 of the exact packet bytes, a
receipt for another record, another kiosk or a different (damaged) packet is worthless,
and because it is signed, a man in the middle or a misconfigured proxy cannot forge one.

Receipt format 1::

    receipt = body | Ed25519 signature (64 bytes) over body, by the intake key
    body    = canonical JSON (sorted keys, no spaces, ASCII) with exactly the keys
              format, kiosk_id, record_id, packet_sha256, packet_length,
              received_at, intake_key_id

The intake key pair lives beside the central key pair: ``intake.key`` (0600, the raw
32-byte seed, like a kiosk's ``device.key``) and ``intake.pub`` (two ASCII lines, header
``ektp-intake-public-key v1`` then the key in hex), which goes to every kiosk as
``[upload] intake_key``. It is a separate key from the central X25519 key on purpose: the
decryption key never has to be online for signing, and either can be rotated alone.

Example::

    key = IntakeKey.load_or_create(data / "keys" / "intake.key")        # intake
    receipt = make_receipt(key, "poso-01", record_id, packet, "2024-03-01T02:07:40Z")
    info = verify_receipt(receipt, load_intake_public_key(path),        # kiosk
                          kiosk_id="poso-01", record_id=record_id,
                          packet_sha256=hashlib.sha256(packet).hexdigest())
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from kiosk.core.canonical import (
    SHA256_HEX,
    SIGNATURE_BYTES,
    canonical_json,
    check_types,
    parse_canonical,
)
from kiosk.core.ids import KEY_ID
from kiosk.errors import SealingError
from kiosk.fsutil import write_atomic
from kiosk.sealing_keys import (
    SeedKey,
    key_id,
    read_key_file,
)

__all__ = [
    "INTAKE_PUBLIC",
    "RECEIPT_FORMAT",
    "IntakeKey",
    "ReceiptError",
    "ReceiptForAnotherPacket",
    "ensure_intake_keypair",
    "load_intake_public_key",
    "make_receipt",
    "sign_receipt",
    "verify_receipt",
]

log = logging.getLogger(__name__)

RECEIPT_FORMAT = 1
INTAKE_PUBLIC = "ektp-intake-public-key v1"
MAX_RECEIPT_BYTES = 4096  # a receipt is about 300 bytes; refuse absurd input before parsing
_RECEIPT_KEYS = frozenset({"format", "kiosk_id", "record_id", "packet_sha256",
                           "packet_length", "received_at", "intake_key_id"})


class ReceiptError(SealingError):
    """A receipt is malformed, not signed by the trusted intake key, or not for this packet."""


class ReceiptForAnotherPacket(ReceiptError):
    """A receipt the trusted intake signed for this kiosk and record, but for other packet
    bytes: the intake holds a different packet under this record id, and never takes ours."""


# -- the intake's signing key ---------------------------------------------------------------
class IntakeKey(SeedKey):
    """The intake's Ed25519 receipt-signing key. Lives only at the central office.

    Example::

        key = IntakeKey.load_or_create(Path("/srv/intake/keys/intake.key"))
        print(key.key_id)
    """

    __slots__ = ()
    what = "intake key"
    public_header = INTAKE_PUBLIC
    restore_hint = "restore it from backup (a new key means every kiosk needs the new intake.pub)"


def ensure_intake_keypair(directory: Path) -> tuple[IntakeKey, bool]:
    """Make ``intake.key`` and ``intake.pub`` in ``directory`` if missing.

    Returns the key and whether it was created now. An existing ``intake.key`` is kept; the
    public file is (re)written only when missing or not matching it (it is derived).
    """
    directory = Path(directory)
    private_path, public_path = directory / "intake.key", directory / "intake.pub"
    existed = private_path.exists()
    key = IntakeKey.load_or_create(private_path)
    text = key.public_key_text().encode("ascii")
    try:
        current = public_path.read_bytes()
    except FileNotFoundError:
        current = b""
    if current != text:
        write_atomic(public_path, text, 0o644, overwrite=True)
    return key, not existed


def load_intake_public_key(path: Path) -> bytes:
    """The intake's Ed25519 public key (32 bytes) from ``intake.pub``."""
    return read_key_file(path, INTAKE_PUBLIC, "intake public key",
                         missing="copy DIR/keys/intake.pub from the intake (made by "
                                 "`kiosk-intake keys init --data DIR`)")


# -- receipts -------------------------------------------------------------------------------
def make_receipt(intake_key: IntakeKey, kiosk_id: str, record_id: str, packet: bytes,
                 received_at: str) -> bytes:
    """Sign a format-1 receipt for ``packet`` (call only once the packet is durable)."""
    return sign_receipt(intake_key, kiosk_id, record_id, hashlib.sha256(packet).hexdigest(),
                        len(packet), received_at)


def sign_receipt(intake_key: IntakeKey, kiosk_id: str, record_id: str, packet_sha256: str,
                 packet_length: int, received_at: str) -> bytes:
    """:func:`make_receipt` from the packet's SHA-256 and length: the intake hashes a
    packet once, streamed from its file, and never holds it whole in memory."""
    if not kiosk_id or not record_id:
        raise ReceiptError("a receipt needs a kiosk id and a record id")
    body = canonical_json({
        "format": RECEIPT_FORMAT,
        "kiosk_id": kiosk_id,
        "record_id": record_id,
        "packet_sha256": packet_sha256,
        "packet_length": packet_length,
        "received_at": received_at,
        "intake_key_id": intake_key.key_id,
    })
    return body + intake_key.sign(body)


def _parse_body(body: bytes) -> dict[str, Any]:
    info = parse_canonical(body, _RECEIPT_KEYS, ReceiptError, "receipt")
    check_types(info, {"format": int, "kiosk_id": str, "record_id": str, "packet_sha256": str,
                       "packet_length": int, "received_at": str, "intake_key_id": str},
                ReceiptError, "receipt")
    if info["format"] != RECEIPT_FORMAT:
        raise ReceiptError(f"receipt format {info['format']!r} is not supported")
    if not SHA256_HEX.fullmatch(info["packet_sha256"]) or info["packet_length"] < 0:
        raise ReceiptError("receipt packet digest or length is malformed")
    return info


def receipt_fields(receipt: bytes) -> dict[str, Any]:
    """The fields of a receipt already verified (e.g. one the journal holds), unverified
    here: for reading ``received_at``, never for deciding whether to trust it."""
    if len(receipt) <= SIGNATURE_BYTES:
        raise ReceiptError(f"receipt has an impossible length {len(receipt)}")
    return _parse_body(receipt[:-SIGNATURE_BYTES])


def _claimed_key_id(body: bytes) -> str:
    """The key id an unverified body claims, for an error message only."""
    try:
        claimed = json.loads(body.decode("ascii")).get("intake_key_id")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return "?"
    return claimed if isinstance(claimed, str) and KEY_ID.fullmatch(claimed) else "?"


def verify_receipt(receipt: bytes, intake_public_key: bytes, *, kiosk_id: str, record_id: str,
                   packet_sha256: str) -> dict[str, Any]:
    """Check a receipt's signature and that it is for this kiosk, record and packet.

    Returns the receipt body as a dict. Raises :class:`ReceiptError` (a ``SealingError``)
    on a bad signature, a malformed body, or any field that is not what the kiosk expects.
    """
    receipt = bytes(receipt)
    if len(intake_public_key) != 32:
        raise ReceiptError("intake public key must be 32 bytes")
    if not SIGNATURE_BYTES < len(receipt) <= MAX_RECEIPT_BYTES:
        raise ReceiptError(f"receipt has an impossible length {len(receipt)}")
    body, signature = receipt[:-SIGNATURE_BYTES], receipt[-SIGNATURE_BYTES:]
    trusted_id = key_id(intake_public_key)
    try:
        nacl.signing.VerifyKey(bytes(intake_public_key)).verify(body, signature)
    except nacl.exceptions.BadSignatureError as exc:
        claimed = _claimed_key_id(body)
        hint = (f"; it names intake key {claimed}: is upload.intake_key the intake's "
                "DIR/keys/intake.pub?" if claimed not in ("?", trusted_id) else "")
        raise ReceiptError(
            f"receipt signature does not verify with intake key {trusted_id}{hint}"
        ) from exc
    info = _parse_body(body)
    if info["intake_key_id"] != trusted_id:
        raise ReceiptError(f"receipt names intake key {info['intake_key_id']}, "
                           f"expected {trusted_id}")
    if info["kiosk_id"] != kiosk_id:
        raise ReceiptError(f"receipt is for kiosk {info['kiosk_id']!r}, not {kiosk_id!r}")
    if info["record_id"] != record_id:
        raise ReceiptError(f"receipt is for record {info['record_id']!r}, not {record_id!r}")
    if info["packet_sha256"] != packet_sha256.lower():
        raise ReceiptForAnotherPacket(
            f"receipt for record {record_id} is for a different packet "
            f"(SHA-256 {info['packet_sha256'][:16]}..., "
            f"expected {packet_sha256.lower()[:16]}...)")
    return info
