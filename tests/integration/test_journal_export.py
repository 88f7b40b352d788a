"""`kiosk journal export`: the metadata a maintainer sends to support, through sqlite-utils."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from kiosk.enrollment.synthetic import citizens
from kiosk.errors import JournalError
from kiosk.journal import Journal
from kiosk.journal.export import write_export
from kiosk.journal.migrations import latest_version
from tests.conftest import KIOSK, kiosk_env
from tests.durability import record_fsyncs, under_a_size_limit


def kiosk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                          text=True, timeout=180, check=False)


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def test_export_holds_every_record_step_and_event_and_nothing_personal(
        kiosk_config: Path, tmp_path: Path) -> None:
    demo = kiosk(kiosk_config, "demo", "--citizens", "3", "--seed", "5")
    assert demo.returncode == 0, demo.stderr[-2000:]
    ids = [line.split()[1] for line in demo.stdout.splitlines()]
    data_dir = kiosk_config.parent / "data"
    with Journal.open_readonly(data_dir / "journal.db") as journal:
        journal_counts = journal.counts()
        history = {rid: journal.record_events(rid) for rid in ids}
        audit_total = len(journal.audit_events(limit=10_000))
    before = _digest(data_dir)

    out = tmp_path / "support.db"
    result = kiosk(kiosk_config, "journal", "export", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {out}: 3 records" in result.stdout
    assert _digest(data_dir) == before  # read-only: the journal's files are untouched

    db = sqlite_utils.Database(out)
    assert set(db.table_names()) == {"export", "records", "steps", "audit"}
    (meta,) = db["export"].rows
    assert meta["journal_schema"] == latest_version() and meta["kiosk_id"]
    records = {r["id"]: r for r in db["records"].rows}
    assert sorted(records) == sorted(ids)
    assert {r["state"] for r in records.values()} == {
        s for s, n in journal_counts.items() if n}
    for rid in ids:
        steps = {s["step"]: s for s in db["steps"].rows_where("record_id = ?", [rid])}
        expected = {e.details["step"]: e.details["bytes"] for e in history[rid]
                    if e.event == "step_saved"}
        assert {k: v["length"] for k, v in steps.items()} == expected
        assert all(len(s["sha256"]) == 64 for s in steps.values())
        assert records[rid]["manifest_bytes"] > 0
    assert db["audit"].count == audit_total
    assert all(json.loads(row["details"]) is not None for row in db["audit"].rows)
    assert [fk.other_table for fk in db["steps"].foreign_keys] == ["records"]

    # Nothing personal: no NIK, family-card number, name or address of any of the citizens,
    # and no payload (the sealed blobs are not in the schema at all).
    blob = out.read_bytes()
    for person in itertools.islice(citizens(5), 3):
        for needle in (person.nik, person.kk, person.demographics.full_name,
                       person.demographics.address):
            digits = "".join(ch for ch in needle if ch.isdigit())
            assert needle.encode() not in blob
            if len(digits) >= 8:
                assert digits.encode() not in blob
    columns = {c.name for name in ("records", "steps", "audit") for c in db[name].columns}
    assert not columns & {"blob", "manifest", "receipt", "upload_url"}


def test_export_never_overwrites_and_says_why(kiosk_config: Path, tmp_path: Path) -> None:
    assert kiosk(kiosk_config, "demo", "--citizens", "1").returncode == 0
    out = tmp_path / "support.db"
    out.write_bytes(b"someone's file")
    result = kiosk(kiosk_config, "journal", "export", "--out", str(out))
    assert result.returncode == 1
    assert "exists" in result.stderr and "Traceback" not in result.stderr
    assert out.read_bytes() == b"someone's file"
    assert list(tmp_path.glob(".support.db*")) == []


def test_export_without_a_journal_is_a_clear_failure(kiosk_config: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "support.db"
    result = kiosk(kiosk_config, "journal", "export", "--out", str(out))
    assert result.returncode == 1
    assert "no journal" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


# A USB stick that fills up (tests/durability.py). 36 KiB: the journal's 32 KiB WAL index
# (-shm) still fits, the export of 12 records does not.
FULL_STICK = under_a_size_limit("""
from kiosk.cli import main
sys.exit(main(sys.argv[1:]))
""", 36 * 1024)


def test_export_to_a_full_stick_is_one_clear_line_and_no_half_file(
        kiosk_config: Path, tmp_path: Path) -> None:
    assert kiosk(kiosk_config, "demo", "--citizens", "12").returncode == 0
    stick = tmp_path / "stick"
    stick.mkdir()
    out = stick / "support.db"
    result = subprocess.run([sys.executable, "-c", FULL_STICK, "journal", "export", "--out",
                             str(out)], env=kiosk_env(kiosk_config), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot write {out}" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(stick.iterdir()) == []  # neither the export nor its temporary file


EMPTY = {"records": [], "steps": [], "audit": [],
         "export": [{"kiosk_software": "0.0.0", "journal_schema": 1}]}


def test_export_is_fsynced_under_its_temporary_name_then_its_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = record_fsyncs(monkeypatch)
    out = tmp_path / "support.db"
    counts = write_export(EMPTY, out, kiosk_id="test-01", exported_at="2026-01-01T00:00:00Z")
    assert counts == {"records": 0, "steps": 0, "audit": 0}
    assert synced == [str(tmp_path / f".support.db.{os.getpid()}.tmp"), str(tmp_path)]
    assert [p.name for p in tmp_path.iterdir()] == ["support.db"]


def test_export_never_replaces_a_file_made_while_it_was_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "support.db"
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # another export to the same name, finished first
        out.write_text("the other export")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(JournalError, match=f"cannot write {out}"):
        write_export(EMPTY, out, kiosk_id="test-01", exported_at="2026-01-01T00:00:00Z")
    assert out.read_text() == "the other export"
    assert [p.name for p in tmp_path.iterdir()] == ["support.db"]
