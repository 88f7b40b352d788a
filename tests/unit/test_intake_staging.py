"""The intake's temporary files: what a killed process leaves is swept at its next start."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from intake import staging
from kiosk.fsutil import write_atomic
from kiosk.receipts import IntakeKey
from tests.fuzz.sealed import KIOSK, make_world

RECORD = "kiosk-02-0000010-53d700"


def _gone_pid() -> int:
    """The id of a process of this host that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_receipt_a_killed_intake_was_writing_is_swept_at_once(tmp_path: Path) -> None:
    kiosk = tmp_path / "records" / "kiosk-02"
    kiosk.mkdir(parents=True)
    receipt = kiosk / f"{RECORD}.receipt"
    # named as the intake names it while writing (host and process), by a process now gone
    ours = staging.staged_name(receipt)
    left = ours.replace(f"-{os.getpid()}-", f"-{_gone_pid()}-")
    (kiosk / left).write_bytes(b"half a receipt")
    kept = kiosk / f"{RECORD}.pkt"
    kept.write_bytes(b"a stored packet")
    assert staging.sweep_staged(tmp_path / "records") == 1
    assert sorted(p.name for p in kiosk.iterdir()) == [kept.name]


def test_a_temporary_of_a_live_process_stays(tmp_path: Path) -> None:
    kiosk = tmp_path / "records" / "kiosk-02"
    kiosk.mkdir(parents=True)
    writing = kiosk / staging.staged_name(kiosk / f"{RECORD}.receipt")  # this process's
    writing.write_bytes(b"being written")
    assert staging.sweep_staged(tmp_path / "records") == 0
    assert writing.exists()


def test_the_intake_writes_receipts_under_a_name_the_sweep_knows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored record's receipt is written under a temporary name with host and process,
    as a staged packet is (one without the host is swept only after STALE_STAGED_S)."""
    import intake.store

    world = make_world(tmp_path / "keys")
    registration = SimpleNamespace(kiosk_id=KIOSK, public_key=world.device.public_bytes,
                                   key_id=world.device.key_id, revoked=False,
                                   revoked_at=None)
    store = intake.store.IntakeStore(tmp_path / "intake", world.central_private,
                                     IntakeKey.generate(),
                                     lambda kiosk: registration if kiosk == KIOSK else None)
    names: list[str | None] = []

    def spy(path: Path, data: bytes, mode: int, *, overwrite: bool,
            temporary: str | None = None) -> None:
        names.append(temporary)
        write_atomic(path, data, mode, overwrite=overwrite, temporary=temporary)

    monkeypatch.setattr(intake.store, "write_atomic", spy)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(world.packet)
    try:
        outcome = store.accept("u-1", {"kiosk_id": KIOSK, "record_id": world.record_id,
                                       "sha256": hashlib.sha256(world.packet).hexdigest()},
                               upload)
    finally:
        store.close()
    assert outcome.status == "received", outcome
    assert len(names) == 1 and names[0] is not None
    found = staging._TEMPORARY.fullmatch(names[0])
    assert found is not None, names[0]
    assert (found["host"], int(found["pid"])) == (staging._HOST, os.getpid())
