"""Journal + seal one complete record, against writing and fsyncing the same bytes.

The record is what the demo produces for one citizen: the kept portrait JPEG (the 360x480
crop), ten fingerprints as the session keeps them (256x288, 500 ppi, 16 levels, lossless
WebP), a signature PNG and the family-card data, journaled step by step (each step encrypted
and committed durably) and then sealed. The floor is the least any
durable store must pay: one ``write`` of the same plaintext bytes to a fresh file plus one
``fsync``. Reported as the ratio of the medians (target: at most 3x).

Set ``BENCH_DIR`` to put the files on another disk (the SD card of a Pi); the default is
the system's temporary directory.

Each completed step must be durable before the next begins (DESIGN), so the kiosk pays one
commit per step: consent (with the record), identity, demographics, portrait, fingerprints,
signature, and the seal. A second floor shows that: the same bytes written to a plain file
with an fsync after each step.

Also reported: the bytes the kiosk's process sent to the disk per record (``write_bytes`` of
``/proc/self/io``: the WAL, and the checkpoints that copy it into the journal file), which is
what wears an SD card, against the record's own bytes.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from kiosk.demo import FINGERS, signature_png
from kiosk.enrollment.quality import prepare_portrait
from kiosk.hardware.registry import create_device
from kiosk.journal import Journal
from kiosk.record_store import JournalRecordStore
from kiosk.sealing import DeviceKey, Sealer, generate_central_keypair, load_central_public_key


def record_steps() -> dict[str, dict[str, bytes]]:
    with create_device("fingerprint", {"type": "sim", "seed": 7}) as scanner:
        fingers = {}
        for number, code in enumerate(FINGERS):
            scanner.present(number, person=7)
            fingers[f"{code}.webp"] = scanner.capture(timeout=5).to_webp()
    with create_device("camera", {"type": "sim", "seed": 7}) as camera:
        report, portrait = prepare_portrait(camera.capture_still().jpeg, 1985)
    assert report.ok, report
    data = {"full_name": "Nur'aini Lamba", "address": "Jl. Pulau Sumatera No. 12"}
    return {
        "consent": {"consent.json": b'{"accepted": true, "language": "id"}'},
        "identity": {"identity.json": b'{"nik": "7204015208850001", "kk": "7204011203120004"}'},
        "demographics": {"demographics.json": json.dumps(data).encode()},
        "portrait": {"portrait.jpg": portrait},
        "fingerprints": fingers | {"exceptions.json": b"{}"},
        "signature": {"signature.png": signature_png(1)},
    }


def run(rounds: int = 100) -> dict[str, float]:
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
        kiosk_times, floor_times, per_step_times = [], [], []
        first, *rest = steps.items()
        written = 0
        for i in range(rounds):
            before = _written_bytes()
            start = time.perf_counter()
            rid = store.begin(assisted=False, step=first[0], parts=first[1])
            for step, parts in rest:
                store.save_step(rid, step, parts)
            store.seal(rid)
            kiosk_times.append(time.perf_counter() - start)
            written += _written_bytes() - before

            floor_times.append(_write_fsync(base / f"plain-{i}.bin", [payload]))
            # The same bytes written the way the kiosk must make them durable: one fsync'd
            # write per completed step, then one for the seal.
            chunks = [b"".join(parts.values()) for parts in steps.values()] + [b"seal"]
            per_step_times.append(_write_fsync(base / f"steps-{i}.bin", chunks))
        journal.close()
    kiosk_ms = statistics.median(kiosk_times) * 1000
    floor_ms = statistics.median(floor_times) * 1000
    per_step_ms = statistics.median(per_step_times) * 1000
    return {"record_bytes": len(payload), "commits": len(steps) + 1, "journal_seal_ms": kiosk_ms,
            "floor_ms": floor_ms, "ratio": kiosk_ms / floor_ms,
            "per_step_floor_ms": per_step_ms, "per_step_ratio": kiosk_ms / per_step_ms,
            "disk_bytes_per_record": written / rounds}


def _written_bytes() -> int:
    """Bytes this process has sent to the storage layer (0 on a tmpfs)."""
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def _write_fsync(path: Path, chunks: list[bytes]) -> float:
    """Seconds to write ``chunks`` to a new file, fsyncing after each one."""
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in chunks:
            os.write(fd, chunk)
            os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
