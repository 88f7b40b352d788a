"""Run every benchmark and print the Markdown table for README's benchmark section.

    python benchmarks/run.py            # all
    python benchmarks/run.py journal    # one or more by name (journal, fingerprint, camera,
                                        # power, record, intake, recovery, ui, upload)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import (
    bench_camera,
    bench_face,
    bench_fingerprint,
    bench_intake,
    bench_journal,
    bench_power,
    bench_record,
    bench_recovery,
    bench_ui,
    bench_upload,
)


def journal_rows() -> list[str]:
    r = bench_journal.run()
    return [
        f"| journal + seal one complete record ({r['record_bytes'] / 1024:.0f} KiB, "
        f"{r['commits']} durable commits) vs. one write + fsync of the same bytes | "
        f"{r['journal_seal_ms']:.1f} ms vs. {r['floor_ms']:.2f} ms = **{r['ratio']:.1f}x** "
        "| <= 3x |",
        f"| the same, vs. the same bytes written with one fsync per durable step "
        f"({r['commits']} fsyncs, about {r['per_step_floor_ms'] / r['commits']:.2f} ms each "
        f"here) | {r['journal_seal_ms']:.1f} ms vs. {r['per_step_floor_ms']:.2f} ms = "
        f"**{r['per_step_ratio']:.2f}x** | <= 1.5x |",
        f"| bytes written to the disk per record (the WAL and its checkpoints; what wears an "
        f"SD card) | **{r['disk_bytes_per_record'] / 1024:.0f} KiB** for "
        f"{r['record_bytes'] / 1024:.0f} KiB of record | |",
    ]


def fingerprint_rows() -> list[str]:
    return [
        f"| fingerprint image transfer at {baud} baud ({r['bytes']} bytes on the wire) vs. "
        f"the line rate | {r['median_s']:.2f} s vs. {r['floor_s']:.2f} s = "
        f"**{r['ratio']:.3f}x** | <= 1.15x |"
        for baud, r in bench_fingerprint.run().items()
    ]


def camera_rows() -> list[str]:
    return [
        f"| camera preview, {name} backend ({r['width']:.0f}x{r['height']:.0f}) | "
        f"**{r['fresh_fps']:.0f} fresh frames/s** | >= 15 fps |"
        for name, r in bench_camera.run().items()
    ]


BENCHMARKS: dict[str, Callable[[], list[str]]] = {
    "journal": journal_rows, "fingerprint": fingerprint_rows, "camera": camera_rows,
    "face": lambda: bench_face.rows(bench_face.run()),
    "power": lambda: bench_power.rows(bench_power.run()),
    "record": lambda: bench_record.rows(bench_record.run()),
    "intake": lambda: bench_intake.rows(bench_intake.run()),
    "recovery": lambda: bench_recovery.rows(bench_recovery.run()),
    "ui": lambda: bench_ui.rows(bench_ui.run()),
    "upload": lambda: bench_upload.rows(bench_upload.run()),
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run the benchmarks (all, or those named) and print the Markdown table "
                    "for README's benchmark section. 'ui' starts its own Xvfb "
                    "(KIOSK_BENCH_DISPLAY=:0 uses the Pi's panel).")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="one or more of: " + ", ".join(BENCHMARKS))
    names = parser.parse_args(argv).names
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; "
                     f"choose from {', '.join(BENCHMARKS)}")
    print("| benchmark | result | target |")
    print("| --- | --- | --- |")
    for name in names or list(BENCHMARKS):
        for row in BENCHMARKS[name]():
            print(row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
