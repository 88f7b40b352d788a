"""Real keys and valid packets for the sealing and intake fuzz tests to damage."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.public

from kiosk.core.canonical import SIGNATURE_BYTES, canonical_json
from kiosk.core.ids import make_record_id
from kiosk.sealing import (
    FORMAT_VERSION,
    PACKET_MAGIC,
    DeviceKey,
    Opener,
    RecordMeta,
    Sealer,
    build_packet,
    generate_central_keypair,
    load_central_private_key,
    load_central_public_key,
    parse_packet,
)

KIOSK = "poso-01"
RECORD = {
    "consent": {"consent.json": b'{"accepted":true}'},
    "identity": {"identity.json": b'{"nik":"7204014107850003"}'},  # synthetic
    "portrait": {"portrait.jpg": b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9"},
    "fingerprints": {"R1.png": b"\x89PNG" + bytes(40), "R5.png": b"",
                     "exceptions.json": b"[]"},
}


def meta(seq: int, suffix: str = "a1b2c3") -> RecordMeta:
    return RecordMeta(record_id=make_record_id(KIOSK, seq, suffix), kiosk_id=KIOSK, seq=seq,
                      boot_id="b00t-1", clock_trusted=True, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)


def frame(signed_manifest: bytes, blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    """Packet framing around any manifest bytes and blobs (docs/packet.md)."""
    return (PACKET_MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(signed_manifest))
            + signed_manifest + b"".join(struct.pack(">I", len(b)) + b for b in blobs))


def seal(sealer: Sealer, record_meta: RecordMeta, record: dict[str, dict[str, bytes]]) -> bytes:
    blobs = {step: sealer.seal_step(record_meta.record_id, step, parts)
             for step, parts in record.items()}
    return build_packet(sealer.seal_record(record_meta, blobs), blobs)


@dataclass(frozen=True, repr=False)
class World:
    """Real keys (made as files, as a kiosk and the intake make them), a sealer, an opener,
    and two valid packets to damage."""

    central_private: bytes
    central_public: bytes
    device: DeviceKey
    sealer: Sealer
    opener: Opener
    packet: bytes
    other_packet: bytes
    manifest: dict[str, Any]
    record_id: str

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"World(device={self.device.key_id}, record={self.record_id})"

    def seal_plaintext(self, plaintext: bytes) -> bytes:
        """Encrypt arbitrary bytes to the central key, as a (hostile) kiosk could."""
        return nacl.public.SealedBox(nacl.public.PublicKey(self.central_public)).encrypt(
            plaintext)

    def packet_for(self, manifest: Any, blobs: list[bytes] | tuple[bytes, ...]) -> bytes:
        """A packet whose manifest is ``manifest`` (canonical JSON), signed by the trusted
        device key, with ``blobs`` after it: framing always right, content anything."""
        body = canonical_json(manifest)
        return frame(body + self.device.sign(body), blobs)


def make_world(root: Path) -> World:
    private_path, public_path = generate_central_keypair(root / "central")
    central_private = load_central_private_key(private_path)
    central_public = load_central_public_key(public_path)
    device = DeviceKey.load_or_create(root / "kiosk" / "device.key")
    sealer = Sealer(central_public, device, KIOSK)
    opener = Opener(central_private, {device.key_id: device.public_bytes})
    packet = seal(sealer, meta(1), RECORD)
    other = seal(sealer, meta(2, "0f0f0f"), {"consent": RECORD["consent"]})
    manifest = json.loads(parse_packet(packet).signed_manifest[:-SIGNATURE_BYTES])
    return World(central_private, central_public, device, sealer, opener, packet, other,
                 manifest, meta(1).record_id)
