"""Run every benchmark and print a Markdown table for README."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_journal


def main() -> None:
    journal = bench_journal.run()
    print("| benchmark | result | target |")
    print("| --- | --- | --- |")
    print(f"| journal + seal one complete record ({journal['record_bytes'] / 1024:.0f} KiB, "
          f"{journal['commits']} durable commits) vs. one write + fsync of the same bytes | "
          f"{journal['journal_seal_ms']:.1f} ms vs. {journal['floor_ms']:.2f} ms = "
          f"**{journal['ratio']:.1f}x** | <= 3x |")
    print(f"| the same, vs. the same bytes written with one fsync per durable step | "
          f"{journal['journal_seal_ms']:.1f} ms vs. {journal['per_step_floor_ms']:.2f} ms = "
          f"**{journal['per_step_ratio']:.1f}x** | |")


if __name__ == "__main__":
    main()
