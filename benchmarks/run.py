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
    print(f"| journal + seal one complete record ({journal['record_bytes'] / 1024:.0f} KiB) "
          f"vs. write + fsync of the same bytes | {journal['journal_seal_ms']:.1f} ms vs. "
          f"{journal['floor_ms']:.1f} ms = **{journal['ratio']:.2f}x** | <= 3x |")


if __name__ == "__main__":
    main()
