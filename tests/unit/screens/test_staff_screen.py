"""What the officer's screens say, from the real flow (no window): when an unfinished
enrollment was begun and how far it got, and the finger step's count and crossed-out
fingers once a finger is recorded missing (and the review's line for it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from kiosk.screens.fingerprints import FingerprintsScreen
from kiosk.screens.review import ReviewScreen
from kiosk.screens.staff import begun_text, saved_text
from tests.unit.screens.test_flow_staff import StaffKit, _to_fingerprints_with_l3_failing

NOW = datetime(2026, 3, 3, 16, 0)


@pytest.fixture
def wita(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kiosk in Central Sulawesi: WITA, UTC+8."""
    monkeypatch.setenv("TZ", "Asia/Makassar")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("created", "trusted", "language", "shown"), [
    ("2026-03-03T07:05:00.000Z", True, "en", "Begun 15:05, 3 Mar"),
    ("2026-03-03T07:05:00.000Z", True, "id", "Dimulai 15:05, 3 Mar"),
    ("2026-12-01T06:15:12.123Z", True, "id", "Dimulai 14:15, 1 Des"),
    ("2025-08-17T02:00:00.000Z", True, "id", "Dimulai 10:00, 17 Agu 2025"),
    ("2025-12-31T17:30:00.000Z", True, "en", "Begun 01:30, 1 Jan"),
    ("1970-01-01T00:00:09.000Z", False, "en", "Begun 08:00, 1 Jan 1970 (time uncertain)"),
    ("1970-01-01T00:00:09.000Z", False, "id", "Dimulai 08:00, 1 Jan 1970 (waktu tidak pasti)"),
    ("yesterday", True, "en", "Begun at an unknown time"),
])
def test_when_an_unfinished_enrollment_was_begun_in_the_kiosks_time(
        wita: None, created: str, trusted: bool, language: str, shown: str) -> None:
    assert begun_text(created, trusted, language, now=NOW) == shown


def test_how_many_steps_are_saved() -> None:
    steps = frozenset({"consent", "identity", "demographics"})
    assert saved_text(steps, "en") == "3 of 6 steps saved"
    assert saved_text(steps, "id") == "3 dari 6 tahap tersimpan"


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[StaffKit]:
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    yield kit
    kit.close()


def test_a_finger_recorded_missing_counts_as_done_and_is_crossed_out(kit: StaffKit) -> None:
    _to_fingerprints_with_l3_failing(kit)  # in Indonesian
    screen = FingerprintsScreen()
    screen.refresh(kit.flow)
    assert not screen.officer and screen.missing == []
    assert "petugas" in screen.note  # alone: call an officer
    kit.login()
    screen.refresh(kit.flow)
    assert screen.officer and "BANTUAN" not in screen.note  # the officer is here
    kit.tap("ask_missing")
    kit.tap("record_missing", "scarred")
    screen.refresh(kit.flow)
    assert screen.missing == ["L3"] and "L3" not in screen.done
    # L3 counts with those scanned
    assert screen.progress == f"{len(kit.flow.fingers_done) + 1} dari 10 jari selesai"
    kit.remove()
    screen.refresh(kit.flow)
    assert not screen.officer and screen.missing == ["L3"]  # still crossed out

    for _ in range(3):
        kit.executor.advance(1.0)
    kit.sign()
    review = ReviewScreen()
    review.refresh(kit.flow)
    lines = review.fingers.splitlines()
    assert "[X] Jari tengah kiri \N{EN DASH} Bekas luka" in lines
    assert sum(line.startswith("[OK] ") for line in lines) == 9


def test_a_continued_enrollment_reviews_what_was_saved_before_as_saved_not_blank(
        kit: StaffKit) -> None:
    """Photo and signature saved before the session was left: the review says so where
    the thumbnail would be (the kiosk cannot read them back), never an empty frame."""
    kit.login()
    kit.tap("staff_start", "en")
    kit.tap("consent", True)
    kit.type_identity()
    kit.tap("submit_identity")
    kit.fill_demographics()
    kit.tap("submit_demographics")
    kit.through_portrait()
    rid = kit.flow.session.record_id
    kit.walk_away()  # left: kept for the officer
    kit.remove()
    kit.login()
    kit.tap("staff_resume", rid, "en")
    kit.type_identity()
    kit.tap("submit_identity")
    kit.through_fingers()
    kit.sign()
    assert kit.flow.screen == "review"
    review = ReviewScreen()
    review.refresh(kit.flow)
    assert review.portrait is None and review.portrait_kept == "Saved earlier: not shown here."
    assert review.signature is not None and review.signature_kept == ""  # signed just now
    assert review.details == [("Saved earlier: not shown here.", "")]
    review.wipe()
    assert review.portrait_kept == "" and review.signature is None


def test_on_a_low_battery_an_unfinished_enrollment_can_be_deleted_not_continued(
        kit: StaffKit) -> None:
    """(The rows' Continue is off and Delete on while closed: staff.kv.)"""
    rid = kit.leave_one()
    kit.flow.set_acceptance(False, "battery 18 % < power.min_battery_percent 30", True,
                            "battery_low")
    assert [r.record_id for r in kit.flow.resumable] == [rid]
    kit.tap("staff_resume", rid)
    assert kit.flow.screen == "staff" and kit.flow.session is None  # none goes on now
    kit.tap("ask_discard", rid)
    kit.tap("answer_discard", True)
    assert rid not in {r.id for r in kit.runtime.journal.records()}
