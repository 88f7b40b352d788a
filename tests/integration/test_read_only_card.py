"""An SD card the kernel remounted read-only after errors: new enrollments are refused
(the disk line), but the records on it stay readable, so a maintainer can see them and copy
them off. A journal closed cleanly has no ``-wal`` and no ``-shm`` beside it, and a WAL
reader's ``-shm`` cannot be made on a read-only file system: every read failed with
"unable to open database file", and the doctor advised treating the journal as damaged."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import Site, demo, make_site


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` mounted read-only over itself (as the kernel leaves a failing card)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount takes root")
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=False)


def _kiosk(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(site.config), capture_output=True,
                          text=True, timeout=120)


def test_a_card_mounted_read_only_still_shows_and_gives_up_its_records(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    ids = demo(site, 2, seed=5)
    conn = sqlite3.connect(site.journal_path)  # as a clean close leaves it: no -wal, -shm
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = site.journal_path.parent
    assert not Path(f"{site.journal_path}-wal").exists()
    stick = tmp_path / "stick"
    stick.mkdir()
    with read_only(data):
        listed = _kiosk(site, "queue", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert sorted(e["id"] for e in json.loads(listed.stdout)) == sorted(ids)
        check = _kiosk(site, "journal", "check")
        assert check.returncode == 0, check.stderr
        doctor = _kiosk(site, "doctor")
        lines = {line.split()[0]: line for line in doctor.stdout.splitlines() if line.strip()}
        assert " ok " in lines["journal"], doctor.stdout
        assert " FAIL " in lines["disk"] and "read-only" in doctor.stdout
        salvage = _kiosk(site, "queue", "export", "--from", str(site.journal_path),
                         "--local", "--to", str(stick))
        assert salvage.returncode == 0, salvage.stderr
        assert salvage.stdout.splitlines() == [f"exported {i}" for i in ids]
        # its own journal: not "of no use on this kiosk", the receipts acknowledge later
        assert "is not its journal" not in salvage.stderr
        assert "nothing was marked" in salvage.stderr and "kiosk queue import" in salvage.stderr
        demo_refused = _kiosk(site, "demo", "--citizens", "1")
        assert demo_refused.returncode == 3 and "read-only" in demo_refused.stderr
    assert sorted(os.listdir(data)) == sorted(["device.key", "enroll.lock", "journal.db",
                                               "journal.db.lock"])  # nothing written there


def test_a_journal_with_commits_in_its_wal_is_never_read_as_immutable(tmp_path: Path) -> None:
    """Read as immutable, SQLite ignores the -wal: only a journal with none (or an empty
    one) may be, and the -wal looked for is the one beside the file itself, also when the
    journal is named through a symbolic link (the salvage's --from, say)."""
    from kiosk.errors import JournalError
    from kiosk.journal import Journal

    site = make_site(tmp_path / "site")
    demo(site, 1, seed=6)
    data = site.journal_path.parent
    crash = tmp_path / "crash"  # a power cut's leftovers: commits only in the -wal
    crash.mkdir()
    conn = sqlite3.connect(site.journal_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    (crash / "journal.db").write_bytes((data / "journal.db").read_bytes())
    writer = sqlite3.connect(crash / "journal.db")
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    before = writer.execute("SELECT count(*) FROM audit").fetchone()[0]
    writer.execute("INSERT INTO audit (event, details, boot_id, clock_trusted, created_at) "
                   "SELECT event, details, boot_id, clock_trusted, created_at FROM audit "
                   "LIMIT 1")
    writer.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("journal.db", "journal.db-wal"):  # as a crash leaves them: no -shm
        (copy / name).write_bytes((crash / name).read_bytes())
    writer.close()
    link_dir = tmp_path / "elsewhere"
    link_dir.mkdir()
    (link_dir / "journal.db").symlink_to(copy / "journal.db")
    with read_only(copy), read_only(link_dir):  # the link on a read-only mount too
        for named in (copy / "journal.db", link_dir / "journal.db"):
            try:
                with Journal.open_readonly(named) as journal:
                    counted = len(journal.audit_events(limit=10_000))
            except JournalError:
                continue  # refused: it cannot be read whole here, which is the truth
            assert counted == before + 1, f"{named}: the -wal's commit was ignored"
