"""The packet format, without the crypto: the parts container, the step plaintext, the
signed manifest's JSON and the packet framing (``docs/packet.md``).

It owns every byte layout a sealed record has and checks untrusted input against it
(bounds-checked, canonical, nothing it would not have written). :mod:`kiosk.sealing` does
the encryption and the signatures over these bytes and re-exports the names here; import
them from there.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.core.canonical import (
    SHA256_HEX,
    SIGNATURE_BYTES,
    canonical_json,
    check_types,
    parse_canonical,
)
from kiosk.core.ids import is_record_id_for
from kiosk.core.vocabulary import STEPS
from kiosk.errors import SealingError, Undecryptable

FORMAT_VERSION = 1
PACKET_MAGIC = b"EKTP"
STEP_MAGIC = b"EKS1"  # inside the encrypted plaintext: step header format 1
MAX_MANIFEST_BYTES = 64 * 1024  # a manifest is < 2 KiB; refuse absurd ones before parsing
_MAX_NAME_BYTES = 255  # part names become file names at the intake

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_MANIFEST_KEYS = frozenset(
    {"format", "record_id", "kiosk_id", "device_key_id", "central_key_id", "seq", "boot_id",
     "clock_trusted", "created_at", "sealed_at", "assisted", "steps"}
)


@dataclass(frozen=True)
class RecordMeta:
    """What the manifest says about a record besides its steps. No personal data."""

    record_id: str
    kiosk_id: str
    seq: int
    boot_id: str
    clock_trusted: bool
    created_at: str
    sealed_at: str
    assisted: bool


@dataclass(frozen=True)
class Packet:
    """A packet split into its fields; nothing in it is verified yet."""

    version: int
    signed_manifest: bytes
    blobs: tuple[bytes, ...]


# -- parts container ----------------------------------------------------------------------
def _check_part_name(name: str) -> bytes:
    if not isinstance(name, str):
        raise SealingError(f"part name must be a str, not {type(name).__name__}")
    raw = name.encode("utf-8")
    if (not 0 < len(raw) <= _MAX_NAME_BYTES or name in (".", "..") or "/" in name
            or "\\" in name or "\x00" in name):
        raise SealingError(
            f"part name {name!r} is not allowed: 1-{_MAX_NAME_BYTES} UTF-8 bytes, "
            "no '/', '\\' or NUL, not '.' or '..'"
        )
    return raw


def _encode_str(value: str, what: str) -> list[bytes]:
    raw = value.encode("utf-8")
    if not 0 < len(raw) <= _MAX_NAME_BYTES:
        raise SealingError(f"{what} must be 1-{_MAX_NAME_BYTES} UTF-8 bytes")
    return [_U16.pack(len(raw)), raw]


def _pieces_for_parts(parts: Mapping[str, bytes]) -> list[bytes]:
    named = sorted((_check_part_name(name), data) for name, data in parts.items())
    pieces = [_U32.pack(len(named))]
    for raw_name, data in named:
        if not isinstance(data, bytes):
            raise SealingError(f"part {raw_name.decode()!r} must be bytes")
        if len(data) > 0xFFFFFFFF:
            raise SealingError(f"part {raw_name.decode()!r} is larger than 4 GiB")
        pieces += [_U16.pack(len(raw_name)), raw_name, _U32.pack(len(data)), data]
    return pieces


def encode_parts(parts: Mapping[str, bytes]) -> bytes:
    """Deterministic container of named parts (sorted by UTF-8 name, length-prefixed)."""
    return b"".join(_pieces_for_parts(parts))


class _Reader:
    """Bounds-checked reader over untrusted bytes; every short read is a SealingError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise SealingError(f"{self.what} is truncated at byte {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def text(self) -> str:
        try:
            return self.take(self.u16()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SealingError(f"{self.what} holds a name that is not UTF-8") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise SealingError(f"{self.what} has {len(self.data) - self.pos} trailing bytes")


def _read_parts(reader: _Reader) -> dict[str, bytes]:
    parts: dict[str, bytes] = {}
    previous = b""
    for _ in range(reader.u32()):
        raw_name = reader.take(reader.u16())
        if raw_name <= previous:  # sorted and unique, as encode_parts writes them
            raise SealingError(f"{reader.what}: part names are not in canonical order")
        previous = raw_name
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SealingError(f"{reader.what}: a part name is not UTF-8") from exc
        _check_part_name(name)
        parts[name] = reader.take(reader.u32())
    return parts


def decode_parts(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`encode_parts`; refuses anything it would not have written."""
    reader = _Reader(data, "parts container")
    parts = _read_parts(reader)
    reader.end()
    return parts


# -- step plaintext (what a step blob decrypts to) -----------------------------------------
def step_plaintext(kiosk_id: str, record_id: str, step: str, parts: Mapping[str, bytes]) -> bytes:
    """``EKS1`` | kiosk id | record id | step | parts: one step bound to its kiosk, record
    and step, ready to be encrypted."""
    if step not in STEPS:
        _ordered_steps([step])  # raises, naming the steps there are
    pieces = [STEP_MAGIC, *_encode_str(kiosk_id, "kiosk id"),
              *_encode_str(record_id, "record id"), *_encode_str(step, "step"),
              *_pieces_for_parts(parts)]
    return b"".join(pieces)


def read_step_plaintext(plaintext: bytes, kiosk_id: str, record_id: str,
                        step: str) -> dict[str, bytes]:
    """The parts of a decrypted step, once its binding is this kiosk, record and step."""
    reader = _Reader(plaintext, f"record {record_id} step {step}")
    bound = (reader.take(len(STEP_MAGIC)), reader.text(), reader.text(), reader.text())
    if bound != (STEP_MAGIC, kiosk_id, record_id, step):
        raise Undecryptable(f"record {record_id}: step {step} blob belongs to another "
                           "record, step or kiosk")
    parts = _read_parts(reader)
    reader.end()
    return parts


# -- manifest -----------------------------------------------------------------------------
def check_record_id(record_id: str, kiosk_id: str, seq: int) -> None:
    if not is_record_id_for(record_id, kiosk_id, seq):
        raise SealingError(
            f"record id {record_id!r} does not match kiosk {kiosk_id!r} and seq {seq}"
        )


def _ordered_steps(names: Any) -> list[str]:
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        raise SealingError(f"unknown step(s) {unknown}; expected some of {list(STEPS)}")
    return [step for step in STEPS if step in names]


def split_signed(signed_manifest: bytes) -> tuple[bytes, bytes]:
    if not SIGNATURE_BYTES < len(signed_manifest) <= MAX_MANIFEST_BYTES:
        raise SealingError(f"signed manifest has an impossible length {len(signed_manifest)}")
    return signed_manifest[:-SIGNATURE_BYTES], signed_manifest[-SIGNATURE_BYTES:]


def parse_manifest(body: bytes) -> dict[str, Any]:
    """Parse and strictly validate manifest JSON (before or after the signature check)."""
    manifest = parse_canonical(body, _MANIFEST_KEYS, SealingError, "manifest")
    if manifest["format"] != FORMAT_VERSION:
        raise SealingError(f"manifest format {manifest['format']!r} is not supported")
    check_types(manifest, {"record_id": str, "kiosk_id": str, "device_key_id": str,
                           "central_key_id": str, "seq": int, "boot_id": str,
                           "clock_trusted": bool, "created_at": str, "sealed_at": str,
                           "assisted": bool, "steps": list}, SealingError, "manifest")
    steps = manifest["steps"]
    if not steps or not all(
        isinstance(s, dict) and set(s) == {"name", "length", "sha256"}
        and isinstance(s["name"], str) and isinstance(s["sha256"], str)
        and isinstance(s["length"], int) and not isinstance(s["length"], bool)
        for s in steps
    ):
        raise SealingError("manifest step list is malformed")
    names = [s["name"] for s in steps]
    if names != _ordered_steps(names):
        raise SealingError("manifest steps are repeated or out of order")
    return manifest


def read_manifest(signed_manifest: bytes) -> dict[str, Any]:
    """The manifest of ``signed_manifest``, strictly parsed but **not verified**: for a
    reader that checks cheap facts (ids, key id, lengths) before the signature, which it
    must then verify (:meth:`kiosk.sealing.Opener.verify_manifest`) before trusting any of
    them. Bounded: at most :data:`MAX_MANIFEST_BYTES`, JSON nesting refused, six steps at
    most."""
    return parse_manifest(split_signed(signed_manifest)[0])


def manifest_body(meta: RecordMeta, device_key_id: str, central_key_id: str,
                  step_blobs: Mapping[str, bytes | tuple[int, str]]) -> bytes:
    """The canonical JSON manifest of a record, to be signed; ``step_blobs`` maps each step
    to its blob or to its ``(length, SHA-256 hex)``."""
    check_record_id(meta.record_id, meta.kiosk_id, meta.seq)
    if not step_blobs:
        raise SealingError(f"record {meta.record_id} has no steps to seal")
    steps = []
    for name in _ordered_steps(step_blobs):
        entry = step_blobs[name]
        if isinstance(entry, tuple):
            length, digest = entry
            if not SHA256_HEX.fullmatch(digest) or length < 0:
                raise SealingError(f"step {name}: malformed digest")
        else:
            length, digest = len(entry), hashlib.sha256(entry).hexdigest()
        steps.append({"name": name, "length": length, "sha256": digest})
    return canonical_json({
        "format": FORMAT_VERSION, "record_id": meta.record_id, "kiosk_id": meta.kiosk_id,
        "device_key_id": device_key_id, "central_key_id": central_key_id,
        "seq": meta.seq, "boot_id": meta.boot_id, "clock_trusted": meta.clock_trusted,
        "created_at": meta.created_at, "sealed_at": meta.sealed_at,
        "assisted": meta.assisted, "steps": steps,
    })


def record_meta(manifest: Mapping[str, Any]) -> RecordMeta:
    """The :class:`RecordMeta` a parsed manifest states."""
    return RecordMeta(
        record_id=manifest["record_id"], kiosk_id=manifest["kiosk_id"], seq=manifest["seq"],
        boot_id=manifest["boot_id"], clock_trusted=manifest["clock_trusted"],
        created_at=manifest["created_at"], sealed_at=manifest["sealed_at"],
        assisted=manifest["assisted"],
    )


# -- packets ------------------------------------------------------------------------------
def build_packet(manifest: bytes, step_blobs: Mapping[str, bytes]) -> bytes:
    """``EKTP`` | version | u32 len + signed manifest | per step: u32 len + blob."""
    body, _signature = split_signed(manifest)
    steps = parse_manifest(body)["steps"]
    if {s["name"] for s in steps} != set(step_blobs):
        raise SealingError("step blobs do not match the manifest's steps")
    pieces = [PACKET_MAGIC, bytes([FORMAT_VERSION]), _U32.pack(len(manifest)), manifest]
    for entry in steps:
        blob = step_blobs[entry["name"]]
        if len(blob) != entry["length"] or hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise SealingError(f"step {entry['name']} blob does not match the manifest")
        pieces += [_U32.pack(len(blob)), blob]
    return b"".join(pieces)


def parse_packet(packet: bytes) -> Packet:
    """Split a packet into its fields (framing checks only; :class:`kiosk.sealing.Opener`
    verifies)."""
    reader = _Reader(bytes(packet), "packet")
    if reader.take(len(PACKET_MAGIC)) != PACKET_MAGIC:
        raise SealingError("not an e-KTP packet (bad magic)")
    version = reader.take(1)[0]
    if version != FORMAT_VERSION:
        raise SealingError(f"packet version {version} is not supported")
    manifest_length = reader.u32()
    if manifest_length > MAX_MANIFEST_BYTES:
        raise SealingError(f"packet manifest length {manifest_length} is too large")
    signed_manifest = reader.take(manifest_length)
    blobs = []
    while reader.pos < len(reader.data):
        blobs.append(reader.take(reader.u32()))
    return Packet(version, signed_manifest, tuple(blobs))
