"""`kiosk journal check`: the deep check a maintainer runs, and the intake key in `config check`."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import KIOSK, kiosk_env, write_config


def kiosk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                          text=True, timeout=120, check=False)


def test_journal_check_passes_a_sound_journal_and_names_a_damaged_payload(
        kiosk_config: Path) -> None:
    demo = kiosk(kiosk_config, "demo", "--citizens", "2")
    assert demo.returncode == 0, demo.stderr[-2000:]
    ids = [line.split()[1] for line in demo.stdout.splitlines()]

    ok = kiosk(kiosk_config, "journal", "check")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.startswith("journal ok: 2 records")

    # Bit rot in one payload, the way an SD card does it: not a structural error, so the
    # start-up check (which skips payload pages) would not see it; the deep check does.
    db = kiosk_config.parent / "data" / "journal.db"
    conn = sqlite3.connect(db)
    (blob,) = conn.execute("SELECT blob FROM payloads WHERE record_id = ? AND step = ?",
                           (ids[1], "portrait")).fetchone()
    rotten = bytearray(blob)
    rotten[len(rotten) // 2] ^= 0x40
    conn.execute("UPDATE payloads SET blob = ? WHERE record_id = ? AND step = ?",
                 (bytes(rotten), ids[1], "portrait"))
    conn.commit()
    conn.close()

    bad = kiosk(kiosk_config, "journal", "check")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert f"record {ids[1]} step portrait: payload is damaged" in bad.stderr
    assert ids[0] not in bad.stderr
    assert "Traceback" not in bad.stderr


def test_journal_check_names_the_records_behind_damaged_payload_pages(
        kiosk_config: Path) -> None:
    """Pages of the payloads table itself damaged (not one blob's bytes): the start-up check
    skips those pages, so the kiosk goes on; the deep check must still name every record it
    cannot read, not stop at the first error."""
    demo = kiosk(kiosk_config, "demo", "--citizens", "2")
    assert demo.returncode == 0, demo.stderr[-2000:]
    ids = [line.split()[1] for line in demo.stdout.splitlines()]
    db = kiosk_config.parent / "data" / "journal.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'payloads'"
                           ).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as file:  # the table's root page, as a bad SD card would leave it
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)
    bad = kiosk(kiosk_config, "journal", "check")
    assert bad.returncode == 1, bad.stderr
    for record_id in ids:
        assert f"record {record_id} step portrait: payload unreadable" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_journal_check_without_a_journal_is_a_clear_failure(kiosk_config: Path) -> None:
    result = kiosk(kiosk_config, "journal", "check")
    assert result.returncode == 1
    assert "no journal" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_refuses_an_unreadable_intake_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[upload]\nintake_key = "keys/intake.pub"\n')
    result = kiosk(config, "config", "check")
    assert result.returncode == 2
    assert "upload.intake_key" in result.stderr and "intake.pub" in result.stderr
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "intake.pub").write_text("not a key\n")
    assert kiosk(config, "config", "check").returncode == 2
