"""One process enrolls on a kiosk (``<data_dir>/enroll.lock``): a ``kiosk demo`` run over
SSH beside a running touchscreen is refused before its start-up recovery, which would
otherwise discard the citizen at the screen as if a crash had left them (and, for an
assisted session, keep them "for resuming" while they are still being enrolled)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kiosk.config import load_config
from kiosk.core.exits import EXIT_NOT_ACCEPTING
from kiosk.journal import Journal
from kiosk.runtime import Runtime
from tests.conftest import KIOSK, kiosk_env, write_config


def _demo(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, "demo", "--citizens", "1", "--seed", "3"],
                          env=kiosk_env(config), capture_output=True, text=True, timeout=120)


def test_a_second_enrolling_process_is_refused_and_touches_no_session(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    with Runtime.open(config, kinds=()) as screen:  # the touchscreen, a citizen mid-way
        record_id = screen.store.begin(assisted=False, step="consent",
                                       parts={"consent.json": b"{}"})
        second = _demo(path)
        assert second.returncode == EXIT_NOT_ACCEPTING, second.stderr
        assert "another process is enrolling on this kiosk" in second.stderr
        assert "systemctl stop kiosk-ui" in second.stderr
        assert second.stdout == ""
        assert screen.journal.record(record_id).state == "in_progress"  # not discarded
        screen.store.save_step(record_id, "identity", {"identity.json": b"{}"})  # goes on
    # the touchscreen stopped: the next start finds the session a crash left, and only now
    # discards it
    after = _demo(path)
    assert after.returncode == 0, after.stderr
    assert "discarded 1 unfinished session" in after.stderr
    with Journal.open_readonly(config.data_dir / "journal.db") as journal:
        assert record_id not in {r.id for r in journal.records()}


def test_the_lock_names_the_process_that_holds_it(tmp_path: Path) -> None:
    import os

    path = write_config(tmp_path)
    config = load_config(path)
    with Runtime.open(config, kinds=()):
        second = _demo(path)
        assert f"(process {os.getpid()})" in second.stderr
    with Runtime.open(config, kinds=()):  # let go on close: the same process opens again
        pass


def test_a_refused_second_process_leaves_a_damaged_journal_where_it_is(tmp_path: Path) -> None:
    """The lock comes before the journal is opened: the start-up check of a second process
    found a damaged page and moved the journal in use aside (the touchscreen went on
    writing into the moved file; the new one held nothing for the uploader)."""
    import fcntl
    import os

    path = write_config(tmp_path)
    config = load_config(path)
    assert _demo(path).returncode == 0
    db = config.data_dir / "journal.db"
    damaged = bytearray(db.read_bytes())
    damaged[100:200] = b"\x00" * 100  # the header page: the check fails
    db.write_bytes(bytes(damaged))
    holder = os.open(config.data_dir / "enroll.lock", os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the touchscreen, running
        second = _demo(path)
    finally:
        os.close(holder)
    assert second.returncode == EXIT_NOT_ACCEPTING
    assert "another process is enrolling on this kiosk" in second.stderr, second.stderr
    assert db.read_bytes() == bytes(damaged)
    assert not list(config.data_dir.glob("journal.db.corrupt-*"))
