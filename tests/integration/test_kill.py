"""SIGKILL at random instants never loses a printed record nor corrupts the journal."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import KIOSK, kiosk_env


def _check_journal(db: Path, printed: list[str]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        states = dict(conn.execute("SELECT id, state FROM records"))
    finally:
        conn.close()
    missing = [rid for rid in printed if states.get(rid) != "sealed"]
    assert not missing, f"printed but not sealed after kill: {missing}"


def kill_demo_repeatedly(config: Path, rounds: int, seed: int) -> int:
    """Start `kiosk demo`, SIGKILL it at a random moment, check; ``rounds`` times.
    Returns how many ids were printed in all (so the caller can see the kills landed mid-run).
    """
    rng = random.Random(seed)
    db = config.parent / "data" / "journal.db"
    total = 0
    for round_ in range(rounds):
        proc = subprocess.Popen([*KIOSK, "demo", "--citizens", "100000", "--seed", str(round_)],
                                env=kiosk_env(config), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        first = ""
        if round_ % 2 == 0:  # a random instant, start-up and recovery included
            time.sleep(rng.uniform(0.6, 6.0))
        else:  # a random instant once enrolling is under way, however slow the machine
            assert proc.stdout is not None
            first = proc.stdout.readline()
            # A citizen takes about 1.5 s here (ten fingers, each kept as lossless WebP,
            # about 0.1 s of CPU apiece), twice that on a busy machine.
            time.sleep(rng.uniform(0.0, 5.0))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        out = first + out
        printed = [line.split()[1] for line in out.splitlines() if line.startswith("enrolled ")]
        total += len(printed)
        _check_journal(db, printed)
    # The next start discards the self-service session each kill interrupted.
    final = subprocess.run([*KIOSK, "demo", "--citizens", "1"], env=kiosk_env(config),
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    conn = sqlite3.connect(db)
    try:
        left = conn.execute("SELECT count(*) FROM records WHERE state = 'in_progress'"
                            " AND assisted = 0").fetchone()[0]
    finally:
        conn.close()
    assert left == 0
    return total


def test_sigkill_during_demo_keeps_every_printed_record(kiosk_config: Path) -> None:
    total = kill_demo_repeatedly(kiosk_config, rounds=8, seed=1)
    assert total > 8, "the demo never got to print; kills did not land mid-enrollment"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_two_hundred_sigkills_during_demo(kiosk_config: Path) -> None:
    total = kill_demo_repeatedly(kiosk_config, rounds=200, seed=2)
    assert total > 200
