"""The sealed record's size: what one citizen costs on the link and on the SD card.

``kiosk demo`` enrolls simulated citizens (sim camera and fingerprint sensor, each citizen
with ten fingers of their own) into a fresh data directory; each sealed record is then built
into the packet the uploader sends (manifest + encrypted steps, ``docs/packet.md``) and
opened again with the development central key, so the bytes can be put where they belong:

* the parts as the kiosk captured them: each finger, the portrait, the signature, the data
  (consent, identity, demographics and the fingerprint exceptions, all JSON);
* sealing: per step the sealed box (48 bytes) and the bound header and part names;
* the packet: the signed manifest and the length fields.

Reported: the packet size, median and largest over the citizens, against the target of
issue #11 (a full record at most 200 KB), and the medians of each share. ``compressible``
is how much smaller xz (preset 9) makes all the parts of a record together: what a
compressed container could still gain (the images are already compressed; sealed blobs do
not compress at all).
"""

from __future__ import annotations

import io
import lzma
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from kiosk.config import load_config
from kiosk.demo import run_demo
from kiosk.journal import Journal
from kiosk.sealing import DeviceKey, Opener, build_packet
from kiosk.sealing_keys import load_central_private_key

TARGET = 200_000
DATA_PARTS = ("consent.json", "identity.json", "demographics.json", "exceptions.json")


def run(citizens: int = int(os.environ.get("BENCH_CITIZENS", "10"))
        ) -> dict[str, dict[str, float]]:
    """Both ways a record may keep the prints (``[fingerprints] storage``)."""
    return {storage: measure(citizens, storage) for storage in ("png", "webp")}


def measure(citizens: int, storage: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "kiosk.toml").write_text(
            f'[kiosk]\ndata_dir = "{base / "data"}"\ndisk_reserve_bytes = 0\n'
            f'[fingerprints]\nstorage = "{storage}"\n')
        config = load_config(base / "kiosk.toml", system_path=base / "none.toml")
        assert run_demo(config, citizens, 1, io.StringIO()) == 0
        device = DeviceKey.load_or_create(config.device_key_path)
        opener = Opener(load_central_private_key(config.central_key_path.with_name("central.key")),
                        {device.key_id: device.public_bytes})
        journal = Journal.open(base / "data" / "journal.db", kiosk_id=config.kiosk_id,
                               boot_id="bench", clock_trusted=lambda: True)
        shares: dict[str, list[float]] = {}
        try:
            for info in journal.records("sealed"):
                blobs = journal.step_blobs(info.id)
                assert info.manifest is not None
                packet = build_packet(info.manifest, blobs)
                parts = {name: data for step in opener.open_packet(packet).steps.values()
                         for name, data in step.items()}
                fingers = [len(d) for n, d in parts.items() if n[:1] in "RL" and n[1:2].isdigit()]
                plain = sum(len(d) for d in parts.values())
                record = {
                    "packet": len(packet),
                    "fingers_kept": len(fingers),
                    "fingerprints": sum(fingers),
                    "finger": statistics.median(fingers),
                    "portrait": len(parts["portrait.jpg"]),
                    "signature": len(parts["signature.png"]),
                    "data": sum(len(parts[n]) for n in DATA_PARTS if n in parts),
                    "sealing": sum(len(b) for b in blobs.values()) - plain,
                    "packet_overhead": len(packet) - sum(len(b) for b in blobs.values()),
                    "compressible": plain - len(lzma.compress(b"".join(parts.values()),
                                                              preset=9)),
                }
                for key, value in record.items():
                    shares.setdefault(key, []).append(value)
        finally:
            journal.close()
    result = {key: statistics.median(values) for key, values in shares.items()}
    # Some simulated citizens (assisted) have a finger recorded missing: smaller records.
    full = [size for size, kept in zip(shares["packet"], shares["fingers_kept"], strict=True)
            if kept == 10]
    result |= {"storage": storage, "records": len(shares["packet"]), "median": result["packet"],
               "min": min(shares["packet"]), "max": max(shares["packet"]),
               "full_records": len(full), "full_median": statistics.median(full),
               "finger_min": min(shares["finger"]), "finger_max": max(shares["finger"])}
    return result


def rows(results: dict[str, dict[str, float]]) -> list[str]:
    """README's benchmark rows: one pair per ``[fingerprints] storage``."""
    return [row for r in results.values() for row in _rows(r)]


_STORAGE = {"png": "prints as 4-bit PNG (`[fingerprints] storage = \"png\"`, the default)",
            "webp": "prints as lossless WebP (`storage = \"webp\"`, the Pi template's)"}


def _rows(r: dict[str, Any]) -> list[str]:
    met = "met" if r["max"] <= TARGET else ("median met" if r["median"] <= TARGET
                                           else "**not met**")
    return [
        f"| sealed record size, {_STORAGE[r['storage']]}: `kiosk demo` citizens on simulated "
        f"hardware ({r['records']:.0f} records; portrait, 10 fingerprints, signature, data) "
        f"| **{r['median'] / 1000:.1f} KB** "
        f"median, {r['max'] / 1000:.1f} KB largest ({r['min'] / 1000:.1f}-"
        f"{r['max'] / 1000:.1f}); the {r['full_records']:.0f} with all ten fingers "
        f"{r['full_median'] / 1000:.1f} KB median | <= 200 KB ({met}) |",
        f"| where a record's bytes go ({r['storage']}; medians) | fingerprints "
        f"{r['fingerprints'] / 1000:.1f} KB "
        f"(a finger {r['finger'] / 1000:.1f} KB; a record's median finger "
        f"{r['finger_min'] / 1000:.1f}-{r['finger_max'] / 1000:.1f}), portrait "
        f"{r['portrait'] / 1000:.1f} KB (JPEG), signature {r['signature'] / 1000:.1f} KB, "
        f"data {r['data']:.0f} B, sealing {r['sealing']:.0f} B, manifest and framing "
        f"{r['packet_overhead']:.0f} B; xz over all parts would save "
        f"{r['compressible'] / 1000:.1f} KB | |",
    ]


if __name__ == "__main__":
    print("\n".join(rows(run())))
