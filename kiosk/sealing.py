"""Sealed records: encryption to the central office, device signatures, the packet format.

The kiosk encrypts every enrollment step to the central office's X25519 public key with a
libsodium sealed box (a fresh ephemeral key per step), so once a step is sealed the kiosk
itself cannot read it back. When a record is complete, a canonical JSON manifest listing the
SHA-256 of every step blob is signed with the kiosk's Ed25519 device key. A packet is the
signed manifest plus the blobs; only the intake (:class:`Opener`) can open it.
The byte layout is specified in ``docs/packet.md``.

Example::

    device = DeviceKey.load_or_create(data_dir / "device.key")
    sealer = Sealer(load_central_public_key(data_dir / "central.pub"), device, "poso-01")
    blob = sealer.seal_step(record_id, "portrait", {"portrait.jpg": jpeg})
    manifest = sealer.seal_record(meta, {"portrait": blob, ...})
    packet = build_packet(manifest, {"portrait": blob, ...})
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing

from kiosk.core.canonical import SHA256_HEX, SIGNATURE_BYTES, canonical_json
from kiosk.core.ids import is_record_id_for
from kiosk.core.vocabulary import STEPS
from kiosk.errors import SealingError
from kiosk.sealing_keys import (
    DeviceKey,
    generate_central_keypair,
    key_id,
    load_central_private_key,
    load_central_public_key,
    load_device_public_key,
)

__all__ = [
    "FORMAT_VERSION",
    "STEPS",
    "DeviceKey",
    "OpenedRecord",
    "Opener",
    "Packet",
    "RecordMeta",
    "Sealer",
    "build_packet",
    "decode_parts",
    "encode_parts",
    "generate_central_keypair",
    "key_id",
    "load_central_private_key",
    "load_central_public_key",
    "load_device_public_key",
    "parse_packet",
    "read_manifest",
]

log = logging.getLogger(__name__)

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
class OpenedRecord:
    """A verified, decrypted record: ``steps`` maps step name -> part name -> bytes."""

    meta: RecordMeta
    steps: dict[str, dict[str, bytes]]
    device_key_id: str = ""


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
    if not 0 < len(raw) <= _MAX_NAME_BYTES or name in (".", "..") or any(
        c in name for c in "/\\\x00"
    ):
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


# -- manifest -----------------------------------------------------------------------------
def _check_record_id(record_id: str, kiosk_id: str, seq: int) -> None:
    if not is_record_id_for(record_id, kiosk_id, seq):
        raise SealingError(
            f"record id {record_id!r} does not match kiosk {kiosk_id!r} and seq {seq}"
        )


def _ordered_steps(names: Any) -> list[str]:
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        raise SealingError(f"unknown step(s) {unknown}; expected some of {list(STEPS)}")
    return [step for step in STEPS if step in names]


def _split_signed(signed_manifest: bytes) -> tuple[bytes, bytes]:
    if not SIGNATURE_BYTES < len(signed_manifest) <= MAX_MANIFEST_BYTES:
        raise SealingError(f"signed manifest has an impossible length {len(signed_manifest)}")
    return signed_manifest[:-SIGNATURE_BYTES], signed_manifest[-SIGNATURE_BYTES:]


def _parse_manifest(body: bytes) -> dict[str, Any]:
    """Parse and strictly validate manifest JSON (before or after the signature check)."""
    try:
        manifest = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # [[[[... nests too deep
        raise SealingError("manifest is not ASCII JSON") from exc
    if not isinstance(manifest, dict) or set(manifest) != _MANIFEST_KEYS:
        raise SealingError("manifest does not have the format-1 keys")
    if canonical_json(manifest) != body:
        raise SealingError("manifest is not canonical JSON")
    if manifest["format"] != FORMAT_VERSION:
        raise SealingError(f"manifest format {manifest['format']!r} is not supported")
    types = {"record_id": str, "kiosk_id": str, "device_key_id": str, "central_key_id": str,
             "seq": int, "boot_id": str, "clock_trusted": bool, "created_at": str,
             "sealed_at": str, "assisted": bool, "steps": list}
    for key, kind in types.items():
        value = manifest[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SealingError(f"manifest field {key!r} is not a {kind.__name__}")
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
    must then verify (:meth:`Opener.verify_manifest`) before trusting any of them. Bounded:
    at most :data:`MAX_MANIFEST_BYTES`, JSON nesting refused, six steps at most."""
    return _parse_manifest(_split_signed(signed_manifest)[0])


# -- sealing (kiosk side) -------------------------------------------------------------------
class Sealer:
    """Encrypts steps to the central key and signs manifests. It cannot decrypt anything.

    It holds only the central *public* key; each step gets a fresh ephemeral X25519 key that
    libsodium discards after use, so nothing on the kiosk can open a blob once it is written.
    """

    def __init__(self, central_public_key: bytes, device_key: DeviceKey, kiosk_id: str) -> None:
        if len(central_public_key) != nacl.public.PublicKey.SIZE:
            raise SealingError("central public key must be 32 bytes")
        if not kiosk_id:
            raise SealingError("kiosk id must not be empty")
        self._box = nacl.public.SealedBox(nacl.public.PublicKey(bytes(central_public_key)))
        self._central_key_id = key_id(central_public_key)
        self._device_key = device_key
        self.kiosk_id = kiosk_id

    def __repr__(self) -> str:
        return (f"Sealer(kiosk_id={self.kiosk_id!r}, central_key_id={self._central_key_id!r}, "
                f"device_key_id={self._device_key.key_id!r})")

    def seal_step(self, record_id: str, step: str, parts: Mapping[str, bytes]) -> bytes:
        """Encrypt one step's parts; the blob is bound to this kiosk, record and step."""
        _ordered_steps([step])
        pieces = [STEP_MAGIC, *_encode_str(self.kiosk_id, "kiosk id"),
                  *_encode_str(record_id, "record id"), *_encode_str(step, "step"),
                  *_pieces_for_parts(parts)]
        blob = self._box.encrypt(b"".join(pieces))
        log.debug("sealed step %s of %s: %d bytes", step, record_id, len(blob))
        return blob

    def seal_record(self, meta: RecordMeta,
                    step_blobs: Mapping[str, bytes | tuple[int, str]]) -> bytes:
        """Signed manifest: canonical JSON followed by its 64-byte Ed25519 signature.

        ``step_blobs`` maps each step to its blob, or to its ``(length, SHA-256 hex)`` when
        the caller already has them (the journal keeps them, so blobs need not be re-read).
        """
        if meta.kiosk_id != self.kiosk_id:
            raise SealingError(f"record kiosk {meta.kiosk_id!r} is not {self.kiosk_id!r}")
        _check_record_id(meta.record_id, meta.kiosk_id, meta.seq)
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
        body = canonical_json({
            "format": FORMAT_VERSION, "record_id": meta.record_id, "kiosk_id": meta.kiosk_id,
            "device_key_id": self._device_key.key_id, "central_key_id": self._central_key_id,
            "seq": meta.seq, "boot_id": meta.boot_id, "clock_trusted": meta.clock_trusted,
            "created_at": meta.created_at, "sealed_at": meta.sealed_at,
            "assisted": meta.assisted, "steps": steps,
        })
        log.info("sealed record %s (%d steps)", meta.record_id, len(steps))
        return body + self._device_key.sign(body)


# -- packets ------------------------------------------------------------------------------
def build_packet(manifest: bytes, step_blobs: Mapping[str, bytes]) -> bytes:
    """``EKTP`` | version | u32 len + signed manifest | per step: u32 len + blob."""
    body, _signature = _split_signed(manifest)
    steps = _parse_manifest(body)["steps"]
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
    """Split a packet into its fields (framing checks only; :class:`Opener` verifies)."""
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


# -- opening (central side) ---------------------------------------------------------------
class Opener:
    """The intake's side: verifies signatures and hashes, then decrypts every step.

    ``trusted_devices`` maps device key id (:func:`key_id`) -> Ed25519 public key bytes.
    """

    def __init__(self, central_private_key: bytes, trusted_devices: Mapping[str, bytes]) -> None:
        if len(central_private_key) != nacl.public.PrivateKey.SIZE:
            raise SealingError("central private key must be 32 bytes")
        private = nacl.public.PrivateKey(bytes(central_private_key))
        self._box = nacl.public.SealedBox(private)
        self.central_key_id = key_id(bytes(private.public_key))
        self._devices: dict[str, nacl.signing.VerifyKey] = {}
        for kid, public in trusted_devices.items():
            if len(public) != 32 or key_id(public) != kid:
                raise SealingError(f"trusted device entry {kid!r} is not keyed by its key id")
            self._devices[kid] = nacl.signing.VerifyKey(bytes(public))

    def __repr__(self) -> str:
        return f"Opener(central_key_id={self.central_key_id!r}, devices={len(self._devices)})"

    def verify_manifest(self, signed_manifest: bytes) -> dict[str, Any]:
        """Check the signature by a trusted device; returns the manifest as a dict."""
        body, signature = _split_signed(signed_manifest)
        manifest = _parse_manifest(body)
        kid = manifest["device_key_id"]
        verify_key = self._devices.get(kid)
        if verify_key is None:
            raise SealingError(f"packet signed by unknown device key {kid}; register the kiosk")
        try:
            verify_key.verify(body, signature)
        except nacl.exceptions.BadSignatureError as exc:
            raise SealingError(f"bad signature from device key {kid}") from exc
        _check_record_id(manifest["record_id"], manifest["kiosk_id"], manifest["seq"])
        return manifest

    def open_packet(self, packet: bytes) -> OpenedRecord:
        """Verify and decrypt a packet; any deviation raises :class:`SealingError`."""
        parsed = parse_packet(packet)
        manifest = self.verify_manifest(parsed.signed_manifest)
        record_id, kiosk_id = manifest["record_id"], manifest["kiosk_id"]
        entries = manifest["steps"]
        if len(parsed.blobs) != len(entries):
            raise SealingError(f"record {record_id}: {len(parsed.blobs)} blobs, "
                               f"manifest lists {len(entries)}")
        for entry, blob in zip(entries, parsed.blobs, strict=True):
            if len(blob) != entry["length"] or (
                hashlib.sha256(blob).hexdigest() != entry["sha256"]
            ):
                raise SealingError(f"record {record_id}: step {entry['name']} blob altered")
        if manifest["central_key_id"] != self.central_key_id:
            raise SealingError(f"record {record_id} is sealed to central key "
                               f"{manifest['central_key_id']}, this intake holds "
                               f"{self.central_key_id}")
        steps = {
            entry["name"]: self._open_step(blob, kiosk_id, record_id, entry["name"])
            for entry, blob in zip(entries, parsed.blobs, strict=True)
        }
        meta = RecordMeta(
            record_id=record_id, kiosk_id=kiosk_id, seq=manifest["seq"],
            boot_id=manifest["boot_id"], clock_trusted=manifest["clock_trusted"],
            created_at=manifest["created_at"], sealed_at=manifest["sealed_at"],
            assisted=manifest["assisted"],
        )
        return OpenedRecord(meta, steps, manifest["device_key_id"])

    def open_step(self, blob: bytes, kiosk_id: str, record_id: str,
                  step: str) -> dict[str, bytes]:
        """Decrypt one step blob and check its binding; only for a blob whose SHA-256 the
        caller has already checked against a verified manifest (as :meth:`open_packet`
        does). The intake opens a packet this way, a step at a time, from its file."""
        return self._open_step(blob, kiosk_id, record_id, step)

    def _open_step(self, blob: bytes, kiosk_id: str, record_id: str, step: str) -> dict[str, bytes]:
        try:
            plaintext = self._box.decrypt(blob)
        except nacl.exceptions.CryptoError as exc:
            raise SealingError(f"record {record_id}: step {step} does not decrypt") from exc
        reader = _Reader(plaintext, f"record {record_id} step {step}")
        bound = (reader.take(len(STEP_MAGIC)), reader.text(), reader.text(), reader.text())
        if bound != (STEP_MAGIC, kiosk_id, record_id, step):
            raise SealingError(f"record {record_id}: step {step} blob belongs to another "
                               "record, step or kiosk")
        parts = _read_parts(reader)
        reader.end()
        return parts
