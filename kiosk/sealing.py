"""Sealed records: encryption to the central office, device signatures, the packet format.

The kiosk encrypts every enrollment step to the central office's X25519 public key with a
libsodium sealed box (a fresh ephemeral key per step), so once a step is sealed the kiosk
itself cannot read it back. When a record is complete, a canonical JSON manifest listing the
SHA-256 of every step blob is signed with the kiosk's Ed25519 device key. A packet is the
signed manifest plus the blobs; only the intake (:class:`Opener`) can open it.
The byte layout is specified in ``docs/packet.md`` and written and read by
:mod:`kiosk.sealing_format`; this module owns the crypto over it (sealed boxes, Ed25519) and
is where every sealing name is imported from (it re-exports the format's and the keys').

Example::

    device = DeviceKey.load_or_create(data_dir / "device.key")
    sealer = Sealer(load_central_public_key(data_dir / "central.pub"), device, "poso-01")
    blob = sealer.seal_step(record_id, "portrait", {"portrait.jpg": jpeg})
    manifest = sealer.seal_record(meta, {"portrait": blob, ...})
    packet = build_packet(manifest, {"portrait": blob, ...})
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing

from kiosk.core.vocabulary import STEPS
from kiosk.errors import BadSignature, SealingError, Undecryptable
from kiosk.sealing_format import (
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    PACKET_MAGIC,
    STEP_MAGIC,
    Packet,
    RecordMeta,
    build_packet,
    check_record_id,
    decode_parts,
    encode_parts,
    manifest_body,
    parse_manifest,
    parse_packet,
    read_manifest,
    read_step_plaintext,
    record_meta,
    split_signed,
    step_plaintext,
)
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
    "MAX_MANIFEST_BYTES",
    "PACKET_MAGIC",
    "STEPS",
    "STEP_MAGIC",
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


@dataclass(frozen=True)
class OpenedRecord:
    """A verified, decrypted record: ``steps`` maps step name -> part name -> bytes."""

    meta: RecordMeta
    steps: dict[str, dict[str, bytes]]
    device_key_id: str = ""


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
        blob = self._box.encrypt(step_plaintext(self.kiosk_id, record_id, step, parts))
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
        body = manifest_body(meta, self._device_key.key_id, self._central_key_id, step_blobs)
        log.info("sealed record %s (%d steps)", meta.record_id, len(step_blobs))
        return body + self._device_key.sign(body)


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
        body, signature = split_signed(signed_manifest)
        manifest = parse_manifest(body)
        kid = manifest["device_key_id"]
        verify_key = self._devices.get(kid)
        if verify_key is None:
            raise SealingError(f"packet signed by unknown device key {kid}; register the kiosk")
        try:
            verify_key.verify(body, signature)
        except nacl.exceptions.BadSignatureError as exc:
            raise BadSignature(f"bad signature from device key {kid}") from exc
        check_record_id(manifest["record_id"], manifest["kiosk_id"], manifest["seq"])
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
        return OpenedRecord(record_meta(manifest), steps, manifest["device_key_id"])

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
            raise Undecryptable(f"record {record_id}: step {step} does not decrypt") from exc
        return read_step_plaintext(plaintext, kiosk_id, record_id, step)
