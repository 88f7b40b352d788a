"""Acknowledged records lose their payload after the retention period, by the intake's date,
and only while the kiosk's clock is trusted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.journal import Journal
from kiosk.receipts import IntakeKey, make_receipt
from kiosk.upload.purge import purge_expired

KIOSK = "test-01"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", kiosk_id=KIOSK, boot_id="b",
                      clock_trusted=lambda: True) as j:
        yield j


def acknowledged(journal: Journal, received_at: str) -> str:
    rec = journal.create_record(assisted=False)
    journal.save_step(rec.id, "portrait", b"sealed portrait" * 100)
    journal.mark_sealed(rec.id, b"signed manifest")
    journal.start_upload(rec.id, "http://intake/files/x")
    receipt = make_receipt(IntakeKey.generate(), KIOSK, rec.id, b"packet", received_at)
    journal.acknowledge(rec.id, receipt)
    return rec.id


def test_old_receipts_are_purged_new_ones_kept(journal: Journal) -> None:
    old = acknowledged(journal, "2026-10-01T08:00:00Z")   # 57 days before NOW
    recent = acknowledged(journal, "2026-11-20T08:00:00Z")  # 7 days before NOW
    sealed = journal.create_record(assisted=False).id

    purged = purge_expired(journal, 30, clock_trusted=lambda: True, now=lambda: NOW)

    assert purged == [old]
    assert journal.record(old).state == "purged"
    assert journal.step_blobs(old) == {}
    assert journal.receipt(old) is not None  # the proof stays
    assert journal.record(old).manifest == b"signed manifest"
    assert journal.record(recent).state == "acknowledged"
    assert journal.step_blobs(recent) != {}
    assert journal.record(sealed).state == "in_progress"
    assert purge_expired(journal, 30, clock_trusted=lambda: True, now=lambda: NOW) == []


def test_nothing_is_purged_while_the_clock_is_untrusted(journal: Journal) -> None:
    old = acknowledged(journal, "2020-01-01T00:00:00Z")
    assert purge_expired(journal, 30, clock_trusted=lambda: False, now=lambda: NOW) == []
    assert journal.record(old).state == "acknowledged"


def test_retention_zero_purges_as_soon_as_acknowledged(journal: Journal) -> None:
    first = acknowledged(journal, "2026-11-27T11:59:00Z")
    assert purge_expired(journal, 0, clock_trusted=lambda: True, now=lambda: NOW) == [first]


def test_purged_payload_bytes_leave_the_file(journal: Journal) -> None:
    marker = b"PAYLOAD-MARKER-" * 500
    rec = journal.create_record(assisted=False)
    journal.save_step(rec.id, "fingerprints", marker)
    journal.mark_sealed(rec.id, b"m")
    journal.acknowledge(rec.id, make_receipt(IntakeKey.generate(), KIOSK, rec.id, b"p",
                                             "2026-01-01T00:00:00Z"))
    journal.checkpoint()
    assert marker[:60] in journal.path.read_bytes()
    purge_expired(journal, 30, clock_trusted=lambda: True, now=lambda: NOW)
    for suffix in ("", "-wal"):
        f = Path(f"{journal.path}{suffix}")
        assert not f.exists() or marker[:60] not in f.read_bytes()
