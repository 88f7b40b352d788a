"""Run a touch test's driver (``app_*.py``: the real app under a display, scripted on its
own clock) in a process of its own, and read its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, kiosk_env, write_config

#: The two panels the screens are made for: pixels -> millimetres (``[ui] panel_mm``).
PANELS_MM: dict[tuple[int, int], tuple[float, float]] = {
    (800, 480): (155.0, 86.0), (1280, 800): (217.0, 136.0)}


def run_driver(name: str, tmp_path: Path, display: str, *args: str,
               size: tuple[int, int] = (800, 480), panel_mm: bool = False,
               timeout: float = 240) -> dict:
    """Run ``tests/integration/<name>.py CONFIG OUT ARGS...`` on a ``size`` window (its
    panel's millimetres too with ``panel_mm``), speech off; its report, which must hold no
    errors."""
    width, height = size
    panel = f"panel_mm = {list(PANELS_MM[size])}\n" if panel_mm else ""
    config = write_config(tmp_path, f"[ui]\nwidth = {width}\nheight = {height}\n{panel}"
                                    "speech = false\n")
    out = tmp_path / f"{name}.json"
    env = kiosk_env(config) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    driver = REPO / "tests" / "integration" / f"{name}.py"
    result = subprocess.run([sys.executable, str(driver), str(config), str(out), *args],
                            env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert not report["errors"], report["errors"]
    return report
