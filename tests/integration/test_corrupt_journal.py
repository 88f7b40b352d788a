"""A corrupt journal is kept aside and the kiosk refuses to enroll, saying why."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import KIOSK, kiosk_env


def kiosk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                          text=True, timeout=300)


def test_corrupt_journal_is_quarantined_and_enrollment_refused(kiosk_config: Path) -> None:
    assert kiosk(kiosk_config, "demo", "--citizens", "2").returncode == 0
    db = kiosk_config.parent / "data" / "journal.db"
    damaged = bytearray(db.read_bytes())
    damaged[len(damaged) // 2: len(damaged) // 2 + 8192] = b"\xde\xad" * 4096
    damaged[100:200] = b"\x00" * 100  # the header page too
    db.write_bytes(bytes(damaged))

    result = kiosk(kiosk_config, "demo", "--citizens", "1")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "corrupt" in result.stderr

    kept = sorted(db.parent.glob("journal.db.corrupt-*"))
    kept = [p for p in kept if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(damaged)

    status = json.loads(kiosk(kiosk_config, "status", "--json").stdout)
    assert status["accepting"] is False
    assert "corrupt" in status["reason"]
    assert status["journal"]["quarantined"] == [str(kept[0])]

    # Still refused on the next start, until a maintainer moves the file away.
    assert kiosk(kiosk_config, "demo", "--citizens", "1").returncode == 3
    kept[0].rename(kiosk_config.parent / "inspect-me.db")
    again = kiosk(kiosk_config, "demo", "--citizens", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(again.stdout.splitlines()) == 1


def test_the_uploader_reports_a_corrupt_journal_and_leaves_it(tmp_path: Path) -> None:
    """Only the process that enrolls moves the journal aside: the others stop, saying why."""
    from tests.upload_helpers import demo, make_site

    site = make_site(tmp_path)
    demo(site, 1)
    db = site.journal_path
    damaged = bytearray(db.read_bytes())
    damaged[100:200] = b"\x00" * 100
    db.write_bytes(bytes(damaged))
    for args in (("upload", "--once"), ("queue", "retry", "--all")):
        result = kiosk(site.config, *args)
        assert result.returncode != 0, args
        assert "integrity check" in result.stderr and "left as found" in result.stderr
        assert "Traceback" not in result.stderr
    assert db.read_bytes() == bytes(damaged)
    assert not list(db.parent.glob("journal.db.corrupt-*"))


def test_the_read_only_tools_say_what_to_do_with_a_damaged_journal(kiosk_config: Path) -> None:
    """status, queue, journal check and metrics read the journal without the writer's
    check: a damaged file is named with what to do, not only SQLite's words."""
    assert kiosk(kiosk_config, "demo", "--citizens", "1").returncode == 0
    db = kiosk_config.parent / "data" / "journal.db"
    with open(db, "r+b") as damaged:  # the header, as a bad SD card would
        damaged.write(b"this is no longer SQLite")
    for args in (("status", "--json"), ("queue", "list"), ("journal", "check"), ("metrics",)):
        result = kiosk(kiosk_config, *args)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        line = result.stderr.strip().splitlines()[-1]
        assert str(db) in line and "left as found" in line, (args, line)
        assert f"copy {db}* off the kiosk" in line and "kiosk run" in line, (args, line)
    assert not list(db.parent.glob("journal.db.corrupt-*"))


def test_status_still_reports_with_a_journal_damaged_inside(kiosk_config: Path) -> None:
    """Pages damaged past the header (a bad SD card): the status a maintainer needs then
    still comes out, not accepting, the damage named with what to do, the counts unknown
    (empty, not zeros); exit 1. queue list names it the same way."""
    demo = kiosk(kiosk_config, "demo", "--citizens", "2")
    assert demo.returncode == 0
    record_id = demo.stdout.split()[1]
    db = kiosk_config.parent / "data" / "journal.db"
    with open(db, "r+b") as damaged:
        damaged.seek(4096)
        damaged.write(os.urandom(3 * 4096))
    result = kiosk(kiosk_config, "status", "--json")
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["accepting"] is False and status["records"] == {}
    assert "damaged" in status["journal"]["error"] and "left as found" in status["reason"]
    assert {"power", "clock", "hardware", "disk"} <= set(status)
    line = result.stderr.strip().splitlines()[-1]
    assert str(db) in line and "left as found" in line, line
    assert status["upload"]["pending"] is None  # unknown, not 0
    # The metrics timer's file is rewritten, so the dashboard shows the damage rather
    # than the last file's counts as if current.
    textfile = kiosk_config.parent / "prom"
    textfile.mkdir()
    (textfile / "kiosk.prom").write_text('kiosk_records{state="sealed"} 2.0\n')
    metrics = kiosk(kiosk_config, "metrics", "--textfile", str(textfile))
    assert metrics.returncode == 1 and "left as found" in metrics.stderr
    written = (textfile / "kiosk.prom").read_text()
    assert "kiosk_journal_readable 0.0" in written and "kiosk_accepting 0.0" in written
    assert "kiosk_records{" not in written and "kiosk_upload_pending " not in written
    queue = kiosk(kiosk_config, "queue", "list")
    assert queue.returncode == 1 and "Traceback" not in queue.stderr
    assert "left as found" in queue.stderr.strip().splitlines()[-1], queue.stderr[-1000:]
    # queue show said "no record '...' in the journal": the damage, as the others say it.
    shown = kiosk(kiosk_config, "queue", "show", record_id)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    line = shown.stderr.strip().splitlines()[-1]
    assert line.startswith("kiosk queue show: ") and "left as found" in line, line
    assert "no record" not in shown.stderr, shown.stderr
