"""The touchscreen benchmark's full-flow child still walks a citizen to the receipt.

`python benchmarks/run.py ui` is not part of the test run (its figures are measured on an
idle machine), so a change to the flow could break it unseen: "Good. Lift your finger."
once stopped it at the fingers. This runs its flow child briefly and checks only that it
completes (no timing is asserted here; the figures are the benchmark's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_ui import _child, _kiosk_dir


@pytest.mark.gui
def test_the_ui_benchmarks_flow_reaches_the_receipt(tmp_path: Path, xdisplay: str) -> None:
    report, _spawned = _child(xdisplay, _kiosk_dir(tmp_path, "flow-sim"), "flow", "sim",
                              "1.0", "1")
    assert report["receipt"]
    assert report["fps_shown"] > 0 and report["vmhwm_all_kb"] > 0
