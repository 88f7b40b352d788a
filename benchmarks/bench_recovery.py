"""Start-up recovery time: what ``kiosk run`` does before the first screen, on a full journal.

Start-up opens the journal (``kiosk.runtime.open_journal``: ``PRAGMA quick_check`` of every
table but the payloads, on a read-only connection, then connect, configure, migrate) and runs
``kiosk.recovery.recover_unfinished`` (discard unfinished self-service records with their
freed pages zeroed, checkpoint; keep assisted ones). Measured here on a journal of 10,000
sealed records plus 3 unfinished self-service records (discarded) and 1 unfinished
assisted one (kept), the state a power cut leaves. Target: under 2 s.

Record size. A complete record is ~568 KiB (portrait, 10 fingerprint PNGs, signature, the
data), so 10,000 of them make a 5.8 GB journal: that is the main figure (``full_records``).
The payloads (the sealed step blobs) live in their own table, which the start-up check
skips (each is verified against its SHA-256 when read), so start-up reads the small
tables only and its cost follows the number of records, not their size. A second figure
uses *small* records (every step and part of a real record, each image cut to its first
1 KiB) to show that.

"Cold" means the journal's pages were evicted from the page cache first
(``posix_fadvise(DONTNEED)`` on the copied file: only this file, nothing system-wide), as
after a power cut; "warm" is a second open right after. The floor is one sequential
read of the same file, cold.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import evict
from benchmarks.bench_journal import record_steps
from kiosk.config import load_config
from kiosk.journal import Journal, database
from kiosk.record_store import JournalRecordStore
from kiosk.recovery import recover_unfinished
from kiosk.runtime import open_journal
from kiosk.sealing import DeviceKey, Sealer, generate_central_keypair, load_central_public_key

TARGET_S = 2.0
UNFINISHED_SELF_SERVICE = 3
UNFINISHED_ASSISTED = 1
SMALL_PART_BYTES = 1024


def small_steps() -> dict[str, dict[str, bytes]]:
    """Every step and part of a real record; each image cut to its first 1 KiB."""
    return {step: {name: blob[:SMALL_PART_BYTES] for name, blob in parts.items()}
            for step, parts in record_steps().items()}


def build(path: Path, records: int, steps: dict[str, dict[str, bytes]], keys: Path) -> None:
    """A journal of ``records`` sealed records plus the unfinished ones a power cut leaves,
    written through the kiosk's own store (each step encrypted, one commit per step)."""
    sealer = Sealer(load_central_public_key(keys / "central.pub"),
                    DeviceKey.load_or_create(keys / "device.key"), "bench-01")
    journal = Journal.open(path, kiosk_id="bench-01", boot_id="bench-build",
                           clock_trusted=lambda: True)
    store = JournalRecordStore(journal, sealer, kiosk_id="bench-01")
    (first, first_parts), *rest = steps.items()
    try:
        for _ in range(records):
            rid = store.begin(assisted=False, step=first, parts=first_parts)
            for step, parts in rest:
                store.save_step(rid, step, parts)
            store.seal(rid)
        # Unfinished sessions: consent, identity and the portrait done, then the power went.
        for assisted in [False] * UNFINISHED_SELF_SERVICE + [True] * UNFINISHED_ASSISTED:
            rid = store.begin(assisted=assisted, step=first, parts=first_parts)
            for step, parts in rest[:3]:
                store.save_step(rid, step, parts)
    finally:
        journal.close()


def _fresh_copy(pristine: Path, data: Path) -> Path:
    target = data / "journal.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, target)
    evict(target)
    return target


def _read_floor(path: Path) -> float:
    evict(path)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(4 << 20):
            pass
    return time.perf_counter() - start


def measure(pristine: Path, base: Path, rounds: int = 3) -> dict[str, float]:
    """Median start-up (open + recover) cold and warm, quick_check alone, and the floor."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "kiosk.toml").write_text(
        '[kiosk]\nid = "bench-01"\ndata_dir = "data"\ndisk_reserve_bytes = 0\n')
    config = load_config(base / "kiosk.toml", system_path=base / "no-etc.toml")
    data = config.data_dir
    data.mkdir(parents=True, exist_ok=True)
    cold, warm, check_cold, floor = [], [], [], []
    discarded = kept = 0
    for _ in range(rounds):
        path = _fresh_copy(pristine, data)
        start = time.perf_counter()
        assert database.check(path) is None
        check_cold.append(time.perf_counter() - start)

        path = _fresh_copy(pristine, data)
        start = time.perf_counter()
        journal = open_journal(config)
        try:
            result = recover_unfinished(journal, resume_assisted=True)
        finally:
            journal.close()
        cold.append(time.perf_counter() - start)
        discarded, kept = len(result.discarded), len(result.resumable)

        start = time.perf_counter()  # the same start-up again, pages now cached
        journal = open_journal(config)
        try:
            recover_unfinished(journal, resume_assisted=True)
        finally:
            journal.close()
        warm.append(time.perf_counter() - start)
        floor.append(_read_floor(path))
    return {"bytes": pristine.stat().st_size, "startup_cold_s": statistics.median(cold),
            "startup_warm_s": statistics.median(warm),
            "quick_check_cold_s": statistics.median(check_cold),
            "read_floor_cold_s": statistics.median(floor),
            "discarded": discarded, "kept": kept}


def run(records: int = 10_000, full_records: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    """``small``: ``records`` small records; ``full``: ``full_records`` full-size ones."""
    out: dict[str, Any] = {"records": records, "full_records": full_records,
                           "target_s": TARGET_S}
    # mkdtemp under it (private, mode 0700): tmpfs makes the 70,000 build commits cheap.
    shm = Path("/dev/shm")  # noqa: S108
    build_dir = shm if shm.is_dir() else None
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp, \
            tempfile.TemporaryDirectory(dir=build_dir) as scratch:
        base, keys = Path(tmp), Path(scratch) / "keys"
        generate_central_keypair(keys)
        for name, count, steps in (("small", records, small_steps()),
                                   ("full", full_records, record_steps())):
            if count <= 0:
                continue
            # Built where fsync is cheap (tmpfs when there is one), measured on the disk.
            built = Path(scratch) / f"{name}.db"
            start = time.perf_counter()
            build(built, count, steps, keys)
            build_s = time.perf_counter() - start
            pristine = base / f"{name}-pristine.db"
            shutil.copyfile(built, pristine)
            built.unlink()
            figures = measure(pristine, base / name, rounds)
            figures |= {"build_s": build_s, "record_bytes": figures["bytes"] / count}
            out[name] = figures
            pristine.unlink()
            shutil.rmtree(base / name, ignore_errors=True)
    return out


def rows(r: dict[str, Any]) -> list[str]:
    """README table rows."""
    out = []
    f = r.get("full")
    if f:
        out.append(
            f"| start-up recovery: open the journal (integrity check of all but the payloads)"
            f" + discard unfinished sessions, {r['full_records']:,} sealed full-size records "
            f"({f['record_bytes'] / 1024:.0f} KiB each, {f['bytes'] / 2**30:.1f} GiB) + "
            f"{f['discarded']} discarded, {f['kept']} kept, page cache dropped | "
            f"**{f['startup_cold_s']:.2f} s** cold, {f['startup_warm_s']:.2f} s warm "
            f"(the check {f['quick_check_cold_s']:.2f} s; reading the whole file "
            f"{f['read_floor_cold_s']:.1f} s) | < 2 s |")
    s = r.get("small")
    if s:
        out.append(
            f"| the same, {r['records']:,} small records ({s['record_bytes'] / 1024:.0f} KiB, "
            f"{s['bytes'] / 2**20:.0f} MiB) | "
            f"**{s['startup_cold_s']:.2f} s** cold, {s['startup_warm_s']:.2f} s warm "
            f"(the check {s['quick_check_cold_s']:.2f} s) | |")
    return out


if __name__ == "__main__":
    from benchmarks import print_report

    print_report(run(), rows)
