"""A bundle written from whole packets, as the tests of both ends make them (the kiosk's
export writes one packet at a time: kiosk.upload.usb)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kiosk.bundle import BundleWriter


def write_bundle(path: Path, kiosk_id: str, packets: dict[str, bytes],
                 created_at: str = "2026-12-01T04:00:00Z") -> Path:
    """``packets`` (record id -> packet bytes, in order) as the bundle ``path``."""
    with open(path, "wb") as out:
        writer = BundleWriter(out, kiosk_id, created_at)
        for record_id, packet in packets.items():
            writer.add(record_id, packet, hashlib.sha256(packet).hexdigest())
        writer.close()
    return path
