"""Journal + seal one complete record, against writing and fsyncing the same bytes.

The record is what the demo produces for one citizen: a portrait JPEG, ten fingerprint
PNGs (256x288, 500 ppi), a signature PNG and the family-card data, journaled step by step
(each step encrypted and committed durably) and then sealed. The floor is the least any
durable store must pay: one ``write`` of the same plaintext bytes to a fresh file plus one
``fsync``. Reported as the ratio of the medians (target: at most 3x).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from kiosk.demo import FINGERS, signature_png
from kiosk.hardware.registry import create_device
from kiosk.journal import Journal
from kiosk.records import JournalRecordStore
from kiosk.sealing import DeviceKey, Sealer, generate_central_keypair, load_central_public_key


def record_steps() -> dict[str, dict[str, bytes]]:
    with create_device("fingerprint", {"type": "sim", "seed": 7}) as scanner:
        fingers = {f"{code}.png": scanner.capture(timeout=5).to_png() for code in FINGERS}
    with create_device("camera", {"type": "sim", "seed": 7}) as camera:
        portrait = camera.capture_still().jpeg
    data = {"full_name": "Nur'aini Lamba", "address": "Jl. Pulau Sumatera No. 12"}
    return {
        "consent": {"consent.json": b'{"accepted": true, "language": "id"}'},
        "identity": {"identity.json": b'{"nik": "7204015208850001", "kk": "7204011203120004"}'},
        "demographics": {"demographics.json": json.dumps(data).encode()},
        "portrait": {"portrait.jpg": portrait},
        "fingerprints": fingers | {"exceptions.json": b"{}"},
        "signature": {"signature.png": signature_png(1)},
    }


def run(rounds: int = 40) -> dict[str, float]:
    steps = record_steps()
    payload = b"".join(b for parts in steps.values() for b in parts.values())
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        generate_central_keypair(base / "central")
        sealer = Sealer(load_central_public_key(base / "central" / "central.pub"),
                        DeviceKey.load_or_create(base / "device.key"), "bench-01")
        journal = Journal.open(base / "journal.db", kiosk_id="bench-01", boot_id="bench",
                               clock_trusted=lambda: True)
        store = JournalRecordStore(journal, sealer, kiosk_id="bench-01")
        kiosk_times, floor_times = [], []
        for i in range(rounds):
            start = time.perf_counter()
            rid = store.begin(assisted=False)
            for step, parts in steps.items():
                store.save_step(rid, step, parts)
            store.seal(rid)
            kiosk_times.append(time.perf_counter() - start)

            start = time.perf_counter()
            fd = os.open(base / f"plain-{i}.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            floor_times.append(time.perf_counter() - start)
        journal.close()
    kiosk_ms = statistics.median(kiosk_times) * 1000
    floor_ms = statistics.median(floor_times) * 1000
    return {"record_bytes": len(payload), "journal_seal_ms": kiosk_ms, "floor_ms": floor_ms,
            "ratio": kiosk_ms / floor_ms}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
