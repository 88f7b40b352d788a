"""A received packet checked from its file, cheapest check first (``docs/upload.md``).

A completed upload is a file of up to ``--max-packet-mib``; the kiosk that sent it may be a
stolen one. Parsing it whole first (``kiosk.sealing.parse_packet``) makes a Python object
per blob before anything is verified: a valid header followed by 64 MiB of zero-length
blobs cost 13.7 s of CPU and 394 MB before its signature was even looked at. Here every
step is bounded before it runs, and each costs no more than the one before it allowed:

1. the SHA-256 of the file against the upload's metadata, streamed in
   :data:`HASH_BLOCK` pieces (linear, constant memory; a mismatch is a transfer fault, so
   it is told apart from a bad packet before any verdict that would be final);
2. the 9-byte head, then the manifest: at most ``MAX_MANIFEST_BYTES``, strict canonical
   JSON (nesting refused), six known steps at most (:func:`manifest_of`);
3. the caller's cheap facts from the unverified manifest (its ids, its key id);
4. the Ed25519 signature over the manifest, by the kiosk's registered key;
5. the layout against the signed manifest: each step at most :data:`MAX_STEP_BYTES`, the
   file exactly as long as the manifest says, each blob length field equal to the
   manifest's (one 4-byte read per step, found by ``seek``);
6. only then, one step at a time: read the blob, compare its SHA-256 with the manifest's,
   decrypt it and check its binding, and drop it before the next. A worker's memory is
   therefore about three times the largest step, never the packet.

Nothing here takes a lock: the store runs it before its own (``intake.store``).
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any, BinaryIO

from kiosk.core.intake_api import RefusalCode
from kiosk.errors import BadSignature, SealingError, Undecryptable
from kiosk.sealing import (
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    PACKET_MAGIC,
    Opener,
    read_manifest,
)

# A step blob: the fingerprints step, the largest, is about 0.9 MiB; 16 MiB is far above any
# real one and bounds what opening one step costs (ciphertext, plaintext and parts at once).
MAX_STEP_BYTES = 16 * 1024 * 1024
HASH_BLOCK = 1024 * 1024  # the file's SHA-256 is taken in pieces of this size
_HEAD = struct.Struct(">4sBI")  # magic, version, manifest length (docs/packet.md)
_U32 = struct.Struct(">I")


class Refused(Exception):
    """Why a packet is refused: a :class:`~kiosk.core.intake_api.RefusalCode` and a reason
    made of our own words, ids and numbers (never text copied from the packet)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = str(code)
        self.reason = reason


def file_sha256(path: Path) -> tuple[str, int]:
    """(lowercase hex SHA-256, length) of the file at ``path``, read in pieces."""
    digest = hashlib.sha256()
    length = 0
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while got := stream.readinto(buffer):
            digest.update(view[:got])
            length += got
    return digest.hexdigest(), length


def manifest_of(stream: BinaryIO, length: int) -> tuple[bytes, dict[str, Any]]:
    """(signed manifest, manifest parsed but **not verified**) of the packet in ``stream``
    (``length`` bytes); reads the head and the manifest only."""
    stream.seek(0)
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise Refused(RefusalCode.MALFORMED_PACKET, "the packet is shorter than its 9-byte head")
    magic, version, manifest_length = _HEAD.unpack(head)
    if magic != PACKET_MAGIC:
        raise Refused(RefusalCode.MALFORMED_PACKET, "not an e-KTP packet (bad magic)")
    if version != FORMAT_VERSION:
        raise Refused(RefusalCode.MALFORMED_PACKET, f"packet version {version} is not supported")
    if manifest_length > MAX_MANIFEST_BYTES or _HEAD.size + manifest_length > length:
        raise Refused(RefusalCode.MALFORMED_PACKET, f"packet manifest length {manifest_length} is "
                      f"impossible in a packet of {length} bytes")
    signed = stream.read(manifest_length)
    if len(signed) != manifest_length:
        raise Refused(RefusalCode.MALFORMED_PACKET, "the packet is truncated in its manifest")
    try:
        return signed, read_manifest(signed)
    except SealingError as exc:  # our own words (kiosk/sealing.py), no packet text
        raise Refused(RefusalCode.MALFORMED_PACKET, str(exc)) from exc


def verify_and_open(stream: BinaryIO, length: int, signed: bytes, manifest: dict[str, Any],
                    opener: Opener) -> None:
    """Steps 4-6 of the module docstring; returns only if every check passes.

    ``opener`` trusts exactly the one key registered for the kiosk the caller checked the
    manifest names; ``manifest`` is :func:`manifest_of`'s parse of ``signed``.
    """
    try:
        opener.verify_manifest(signed)
    except SealingError as exc:
        code = (RefusalCode.BAD_SIGNATURE if isinstance(exc, BadSignature)
                else RefusalCode.MALFORMED_PACKET)
        raise Refused(code, str(exc)) from exc
    record_id, kiosk_id = manifest["record_id"], manifest["kiosk_id"]
    steps = manifest["steps"]
    for entry in steps:
        if not 0 <= entry["length"] <= MAX_STEP_BYTES:
            raise Refused(RefusalCode.TOO_LARGE, f"record {record_id}: step {entry['name']} is "
                          f"{entry['length']} bytes; the intake takes at most "
                          f"{MAX_STEP_BYTES} for one step")
    described = _HEAD.size + len(signed) + sum(_U32.size + e["length"] for e in steps)
    if described != length:
        raise Refused(RefusalCode.LAYOUT_MISMATCH, f"record {record_id}: the packet is "
                      f"{length} bytes, its signed manifest describes {described}")
    offset = _HEAD.size + len(signed)
    for entry in steps:
        stream.seek(offset)
        (table_length,) = _U32.unpack(stream.read(_U32.size).rjust(_U32.size, b"\0"))
        if table_length != entry["length"]:
            raise Refused(RefusalCode.LAYOUT_MISMATCH, f"record {record_id}: step "
                          f"{entry['name']}'s blob is framed as {table_length} bytes, its "
                          f"signed manifest says {entry['length']}")
        offset += _U32.size + entry["length"]
    if manifest["central_key_id"] != opener.central_key_id:
        raise Refused(RefusalCode.UNDECRYPTABLE, f"record {record_id} is sealed to central key "
                      f"{manifest['central_key_id']}, this intake holds "
                      f"{opener.central_key_id}")
    offset = _HEAD.size + len(signed)
    for entry in steps:
        stream.seek(offset + _U32.size)
        blob = stream.read(entry["length"])
        offset += _U32.size + entry["length"]
        if len(blob) != entry["length"] or (
                hashlib.sha256(blob).hexdigest() != entry["sha256"]):
            raise Refused(RefusalCode.MALFORMED_PACKET,
                          f"record {record_id}: step {entry['name']} blob altered")
        try:
            opener.open_step(blob, kiosk_id, record_id, entry["name"])
        except SealingError as exc:
            code = (RefusalCode.UNDECRYPTABLE if isinstance(exc, Undecryptable)
                    else RefusalCode.MALFORMED_PACKET)
            raise Refused(code, str(exc)) from exc
        del blob  # one step's bytes at a time; the plaintext went with open_step's frame
