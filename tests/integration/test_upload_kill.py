"""SIGKILL `kiosk upload` at random instants: no record lost, no acknowledgement without a
receipt that verifies, the journal intact, and in the end the intake holds each record once.

Chunks are small (4 KiB, ~140 PATCHes a record) so most kills land mid-upload; some rounds
also run `kiosk demo` beside the uploader (two journal writers) and kill both.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kiosk.journal import Journal
from tests.conftest import KIOSK, kiosk_env
from tests.journal_copy import journal_copy, journal_copy_path
from tests.upload_helpers import (
    KIOSK_ID,
    IntakeServer,
    Site,
    check_acknowledged,
    demo,
    make_site,
    stats,
    upload,
)

CHUNK = 4096
OUTBOX = ("sealed", "uploading")


def _states(site: Site) -> dict[str, str]:
    # A copy (nothing else runs between rounds): the killed kiosk's WAL is left for its own
    # next start to recover, not checkpointed away by this look.
    with journal_copy(site.journal_path.parent) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT id, state FROM records"))


def _printed(out: str, word: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith(f"{word} ")]


def _kill_after(proc: subprocess.Popen[str], delay: float) -> str:
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    return out


def kill_uploads_repeatedly(site: Site, intake_url: str, rounds: int, seed: int,
                            together_every: int) -> dict[str, int]:
    """The rounds, then a final `kiosk upload --once`; returns counters so the caller can
    see that the kills landed."""
    rng = random.Random(seed)
    site.configure(intake_url, chunk_size=CHUNK, interval_s=0.2, max_backoff_s=1)
    sealed: set[str] = set(demo(site, 6, seed=seed))
    acknowledged: set[str] = set()
    seen = {"kills": 0, "left_uploading": 0, "acknowledged_before_kill": 0}
    env = kiosk_env(site.config)
    for round_ in range(rounds):
        together = round_ % together_every == together_every - 1
        if not together and sum(s in OUTBOX for s in _states(site).values()) < 2:
            sealed.update(demo(site, 3, seed=seed * 1000 + round_))
        enrolling = subprocess.Popen(
            [*KIOSK, "demo", "--citizens", "100000", "--seed", str(round_)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) if together else None
        uploader = subprocess.Popen([*KIOSK, "upload"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        try:
            if enrolling is not None:  # both die, in random order, at random instants
                t1, t2 = sorted((rng.uniform(0.6, 3.0), rng.uniform(0.6, 3.0)))
                first, second = ((enrolling, uploader) if rng.random() < 0.5
                                 else (uploader, enrolling))
                outs = {first: _kill_after(first, t1)}
                outs[second] = _kill_after(second, t2 - t1)
                sealed.update(_printed(outs[enrolling], "enrolled"))
                out = outs[uploader]
            else:
                out = _kill_after(uploader, rng.uniform(0.3, 2.5))
        finally:
            for proc in (enrolling, uploader):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        seen["kills"] += 1
        printed = set(_printed(out, "acknowledged"))
        seen["acknowledged_before_kill"] += len(printed)

        states = _states(site)  # integrity_check ok
        lost = [rid for rid in sealed if states.get(rid) not in (*OUTBOX, "acknowledged")]
        assert not lost, f"round {round_}: sealed records lost: {lost}"
        done = {rid for rid, state in states.items() if state == "acknowledged"}
        assert acknowledged | printed <= done, f"round {round_}: acknowledgement lost"
        acknowledged = done
        seen["left_uploading"] += sum(state == "uploading" for state in states.values())
        sealed.update(rid for rid, state in states.items() if state in OUTBOX)
        with journal_copy_path(site.journal_path.parent) as copy, \
                Journal.open_readonly(copy) as journal:
            assert set(check_acknowledged(site, journal)) == done

    # The uploader, left alone, finishes: every sealed record at the intake exactly once.
    site.configure(intake_url)  # default chunks: the leftovers go quickly
    final = upload(site, "--once", timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    states = _states(site)
    assert not [rid for rid, state in states.items() if state in OUTBOX]
    done = sorted(rid for rid, state in states.items() if state == "acknowledged")
    assert sealed <= set(done)
    with Journal.open_readonly(site.journal_path) as journal:
        assert check_acknowledged(site, journal) == done
    stored = sorted(p.stem for p in (site.intake_dir / "records" / KIOSK_ID).glob("*.pkt"))
    assert stored == done
    counts = stats(site)
    assert counts["received"] == len(done)
    assert counts["rejected"] == 0
    # A duplicate only where a killed uploader had sent a whole packet but not yet learnt so.
    assert counts["duplicates"] <= seen["kills"]
    return seen


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def test_sigkill_during_upload_loses_nothing(site: Site) -> None:
    with IntakeServer(site.intake_dir) as intake:
        seen = kill_uploads_repeatedly(site, intake.url, rounds=8, seed=1, together_every=4)
    assert seen["left_uploading"] > 0, "no kill landed mid-upload"


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_hundred_sigkills_during_upload(site: Site) -> None:
    with IntakeServer(site.intake_dir) as intake:
        seen = kill_uploads_repeatedly(site, intake.url, rounds=200, seed=2,
                                       together_every=4)
    assert seen["left_uploading"] > 20
    assert seen["acknowledged_before_kill"] > 20
