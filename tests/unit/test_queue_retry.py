"""`kiosk queue retry`: two at once, and a journal that cannot be written.

`--all` lists the rejected records first and requeues them one by one after; another
maintainer's `retry --all` may requeue some in between. A write that fails (a full or
read-only disk) fails the same way for every record after it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.journal import Journal, database
from kiosk.journal.model import RecordInfo
from tests.conftest import write_config
from tests.unit.test_journal import record_in


def _kiosk(capsys: pytest.CaptureFixture[str], config: Path, *args: str
           ) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def _rejected(tmp_path: Path, count: int) -> tuple[Path, list[str]]:
    """A kiosk config whose journal holds ``count`` rejected records (and one sealed)."""
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        ids = [record_in(journal, "rejected") for _ in range(count)]
        record_in(journal, "sealed")
    return config_path, ids


def _state(config_path: Path, record_id: str) -> str:
    with Journal.open_readonly(load_config(config_path).journal_path) as journal:
        return journal.record(record_id).state


def test_retry_all_skips_quietly_what_another_retry_requeued_meanwhile(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `retry --all` at once: the second said "record ... is sealed; only rejected
    records are requeued" for each record the first had just requeued, and exited 1."""
    config_path, ids = _rejected(tmp_path, 3)
    listed: Callable[..., list[RecordInfo]] = Journal.records

    def records_then_the_other_retry(self: Journal, state: str | None = None
                                     ) -> list[RecordInfo]:
        found = listed(self, state)
        for record_id in ids[:2]:  # the other maintainer's retry, between list and requeue
            self.requeue(record_id, "kiosk queue retry")
        return found

    monkeypatch.setattr(Journal, "records", records_then_the_other_retry)
    code, out, err = _kiosk(capsys, config_path, "queue", "retry", "--all")
    assert code == 0, err
    assert "only rejected records are requeued" not in err, err
    assert out.splitlines() == [f"already requeued {ids[0]}", f"already requeued {ids[1]}",
                                f"requeued {ids[2]}"]
    assert {_state(config_path, r) for r in ids} == {"sealed"}


def test_retry_of_a_named_record_that_is_not_rejected_still_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path, ids = _rejected(tmp_path, 1)
    assert _kiosk(capsys, config_path, "queue", "retry", ids[0])[0] == 0
    code, out, err = _kiosk(capsys, config_path, "queue", "retry", ids[0])
    assert code == 1 and out == ""
    assert f"record {ids[0]} is sealed; only rejected records are requeued" in err, err


@pytest.mark.parametrize(("message", "code"), [
    ("database or disk is full", sqlite3.SQLITE_FULL),
    ("attempt to write a readonly database", sqlite3.SQLITE_READONLY),
])
@pytest.mark.parametrize("how", ["--all", "ids"])
def test_a_write_that_fails_is_said_once_and_stops_the_retry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        message: str, code: int, how: str) -> None:
    """On a full or read-only disk `retry --all` printed the same write error once per
    record (and tried every one). One line, naming the error and that it stopped; exit 1."""
    config_path, ids = _rejected(tmp_path, 3)

    def cannot_write(conn: sqlite3.Connection, body: Callable[..., object]) -> object:
        exc = sqlite3.OperationalError(message)
        exc.sqlite_errorcode = code
        raise exc

    monkeypatch.setattr(database, "write_in", cannot_write)
    args = ("--all",) if how == "--all" else tuple(ids)
    status, out, err = _kiosk(capsys, config_path, "queue", "retry", *args)
    assert status == 1 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("kiosk queue retry: ") and message in err, err
    assert "stopped" in err and "0 requeued" in err, err
    monkeypatch.undo()
    assert {_state(config_path, r) for r in ids} == {"rejected"}
