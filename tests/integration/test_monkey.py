"""A monkey on the touchscreen: random touches, pauses and device faults from a seed, with
the kiosk's promises checked all along (``app_monkey.py``): no exception, no stall of the
UI thread, nothing of a citizen left after a wipe nor in a log line, every receipt shown a
sealed record, a journal that passes ``kiosk journal check`` with no record left in
progress, and a kiosk that still enrolls a citizen at the end.

The default run is one seed for half a minute (about a minute in all); ``make test-long``
runs four seeds for three minutes each. A failing seed replays: ``python
tests/integration/app_monkey.py CONFIG OUT.json SEED SECONDS`` under a display."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import load_config
from kiosk.journal import Journal
from tests.conftest import KIOSK, REPO, kiosk_env, write_config

MONKEY = REPO / "tests" / "integration" / "app_monkey.py"
#: The idle warning after 10 s, the wipe 20 s later, the receipt for 10 s, a session
#: without a call expiring after 35 s (just after the idle wipe, as the config allows no
#: sooner): the config's least (the monkey also moves the flow's clock on, to wait less).
CONFIG = """[kiosk]
session_timeout_s = 35
[ui]
width = 800
height = 480
speech = false
idle_timeout_s = 10
idle_warning_s = 20
receipt_s = 10
"""


def run_monkey(tmp_path: Path, display: str, seed: int, seconds: float,
               *plant: str) -> dict[str, Any]:
    """One monkey run; its report, with the journal's findings added to ``violations``."""
    config_path = write_config(tmp_path, CONFIG)
    out = tmp_path / "monkey.json"
    env = kiosk_env(config_path) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    args = ["--plant", ",".join(plant)] if plant else []
    result = subprocess.run([sys.executable, str(MONKEY), str(config_path), str(out),
                             str(seed), str(seconds), *args], env=env, capture_output=True,
                            text=True, timeout=seconds + 300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    report["violations"] += journal_violations(config_path, report["receipts"], env)
    return report


def journal_violations(config_path: Path, receipts: list[str],
                       env: dict[str, str]) -> list[str]:
    """Each receipt shown must be a sealed record; none may be left in progress (the app
    has stopped: no citizen is current); ``kiosk journal check`` must pass."""
    found = []
    check = subprocess.run([*KIOSK, "journal", "check"], env=env, capture_output=True,
                           text=True, timeout=120)
    if check.returncode != 0:
        found.append(f"kiosk journal check: exit {check.returncode}: {check.stderr[-500:]}")
    journal = Journal.open_readonly(load_config(config_path).journal_path)
    try:
        sealed = {info.id for info in journal.records("sealed")}
        found += [f"receipt {receipt} shown, not a sealed record" for receipt in receipts
                  if receipt not in sealed]
        found += [f"record {info.id} left in progress"
                  for info in journal.records("in_progress")]
    finally:
        journal.close()
    return found


def summary(report: dict[str, Any]) -> str:
    keys = ("seed", "monkey_s", "actions", "faults", "wipes", "leak_checks", "receipts",
            "max_gap_s", "final")
    return json.dumps({key: report.get(key) for key in keys})


@pytest.mark.gui
def test_a_monkey_finds_the_kiosk_keeping_its_promises(tmp_path: Path, xdisplay: str) -> None:
    report = run_monkey(tmp_path, xdisplay, seed=1, seconds=30)
    assert report["violations"] == [], (report["violations"], summary(report))
    assert report["leak_checks"] >= 2, summary(report)  # the monkey's wipes and the last
    assert len(report["receipts"]) >= 1, summary(report)  # the final citizen's at least
    assert sum(report["actions"].values()) >= 40, summary(report)


@pytest.mark.gui
def test_the_monkey_reports_a_leak_an_exception_and_a_stall(tmp_path: Path,
                                                            xdisplay: str) -> None:
    """The control: a screen that keeps the NIK after the wipe, a Help handler that
    raises, closing Help that holds the UI thread 1.5 s: each is a violation."""
    report = run_monkey(tmp_path, xdisplay, 1, 3, "leak", "raise", "stall")
    found = "\n".join(report["violations"])
    first = report["leaks"][0] if report["leaks"] else {}
    assert first.get("wipe") == 1 and "Label.text" in first["found"], found  # the NIK kept
    assert "exception in touch handler on consent: RuntimeError: planted" in found, found
    assert any(stall["gap_s"] >= 1.4 for stall in report["stalls"]), found


@pytest.mark.slow
@pytest.mark.gui
@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_a_monkey_for_longer(tmp_path: Path, xdisplay: str, seed: int) -> None:
    """Three minutes a seed (with real waits as long as the idle wipe): about four."""
    report = run_monkey(tmp_path, xdisplay, seed=seed, seconds=180)
    assert report["violations"] == [], (report["violations"], summary(report))
    assert report["leak_checks"] >= 2, summary(report)
