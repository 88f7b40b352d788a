"""Start-up recovery of sessions left unfinished by a power cut or a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.journal import Journal
from kiosk.recovery import (
    DISCARD_REASON,
    NO_CONSENT_REASON,
    recover_unfinished,
    resumable_sessions,
)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "journal.db", kiosk_id="test-01", boot_id="boot",
                     clock_trusted=lambda: False)
    yield j
    j.close()


def _record(journal: Journal, *, assisted: bool, sealed: bool = False) -> str:
    rid = journal.create_record(assisted=assisted, first_step=("consent", lambda _: b"c")).id
    journal.save_step(rid, "identity", b"encrypted identity")
    if sealed:
        journal.mark_sealed(rid, b"manifest")
    return rid


def test_self_service_discarded_assisted_kept_sealed_untouched(journal: Journal) -> None:
    walked_away = _record(journal, assisted=False)
    staff = _record(journal, assisted=True)
    done = _record(journal, assisted=False, sealed=True)

    result = recover_unfinished(journal, resume_assisted=True)

    assert result.discarded == [walked_away]
    assert result.resumable == [staff]
    assert [r.id for r in journal.records()] == [staff, done]
    assert journal.record(done).state == "sealed"
    deleted = journal.audit_events(event="record_deleted")
    assert [(e.details["record"], e.details["reason"]) for e in deleted] == [
        (walked_away, DISCARD_REASON)]
    assert journal.audit_events(event="sessions_resumable")[-1].details == {"count": 1}


def test_assisted_discarded_too_when_resuming_is_off(journal: Journal) -> None:
    staff = _record(journal, assisted=True)
    result = recover_unfinished(journal, resume_assisted=False)
    assert result.discarded == [staff] and result.resumable == []
    assert journal.records() == []


def test_nothing_to_do_writes_nothing(journal: Journal) -> None:
    _record(journal, assisted=False, sealed=True)
    before = len(journal.audit_events(limit=1000))
    result = recover_unfinished(journal, resume_assisted=True)
    assert result.discarded == [] and result.resumable == []
    assert len(journal.audit_events(limit=1000)) == before


def test_discarded_steps_leave_no_bytes_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = Journal.open(path, kiosk_id="test-01", boot_id="boot", clock_trusted=lambda: False)
    rid = j.create_record(assisted=False).id
    marker = b"ZZ-unfinished-step-marker-" * 40
    j.save_step(rid, "portrait", marker)
    # The control: before recovery the bytes are there to be found (in the WAL or the db).
    assert any(marker[:26] in file.read_bytes() for file in tmp_path.iterdir())
    recover_unfinished(j, resume_assisted=True)
    j.close()
    for file in tmp_path.iterdir():
        assert marker[:26] not in file.read_bytes(), file.name


def test_resumable_sessions_lists_assisted_records_with_their_step_names(
        journal: Journal) -> None:
    walked_away = _record(journal, assisted=False)
    staff = _record(journal, assisted=True)
    journal.save_step(staff, "demographics", b"encrypted demographics")
    later = journal.create_record(assisted=True, first_step=("consent", lambda _: b"c")).id
    _record(journal, assisted=True, sealed=True)

    assert resumable_sessions(journal) == [  # before recovery too: never self-service
        (staff, {"consent", "identity", "demographics"}), (later, {"consent"})]
    result = recover_unfinished(journal, resume_assisted=True)
    assert result.discarded == [walked_away] and result.resumable == [staff, later]
    assert resumable_sessions(journal) == [
        (staff, {"consent", "identity", "demographics"}), (later, {"consent"})]


def test_assisted_record_without_consent_is_discarded_not_offered(journal: Journal) -> None:
    broken = journal.create_record(assisted=True).id
    journal.save_step(broken, "identity", b"encrypted identity")
    fine = _record(journal, assisted=True)
    assert [rid for rid, _ in resumable_sessions(journal)] == [fine]

    result = recover_unfinished(journal, resume_assisted=True)

    assert result.discarded == [broken] and result.resumable == [fine]
    deleted = journal.audit_events(event="record_deleted")
    assert [(e.details["record"], e.details["reason"]) for e in deleted] == [
        (broken, NO_CONSENT_REASON)]
