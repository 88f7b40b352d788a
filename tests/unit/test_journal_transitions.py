"""Every change of a record's state goes through one method, which checks the table and
writes exactly one ``record_state`` audit event.

The table below is the specification, written out by hand: for each public method, the
states it moves a record from and to. Every other (method, state) pair must be refused
with :class:`IllegalStateChange` and change nothing. A temporary SQLite trigger on the
journal's own connection sees every state change the database makes, whatever code made
it, and each must match one audit event; a planted direct ``UPDATE`` shows that this check
(and the one that finds a second ``SET state`` in the package's source) can fail.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kiosk
from kiosk.errors import IllegalStateChange
from kiosk.journal import STATES, TRANSITIONS, Journal
from tests.unit.test_journal import open_journal, record_in

Call = Callable[[Journal, str], None]

# method -> {state before: state after}; from any other state the method is refused.
MOVES: dict[str, dict[str, str]] = {
    "mark_sealed": {"in_progress": "sealed"},
    "seal": {"in_progress": "sealed"},
    "start_upload": {"sealed": "uploading", "uploading": "uploading"},
    "upload_failed": {"sealed": "sealed", "uploading": "uploading"},
    "upload_failed(forget_url)": {"sealed": "sealed", "uploading": "sealed"},
    "reject": {"sealed": "rejected", "uploading": "rejected"},
    "requeue": {"rejected": "sealed"},
    "acknowledge": {"sealed": "acknowledged", "uploading": "acknowledged",
                    "exported": "acknowledged"},
    "set_state(in_progress)": {},
    "set_state(sealed)": {"uploading": "sealed"},
    "set_state(uploading)": {"sealed": "uploading", "exported": "uploading"},
    "set_state(exported)": {"sealed": "exported", "uploading": "exported"},
    "mark_exported": {"sealed": "exported", "uploading": "exported", "exported": "exported"},
    "set_state(acknowledged)": {},  # acknowledge() stores the receipt
    "set_state(purged)": {"acknowledged": "purged"},
    "set_state(rejected)": {},  # reject() stores the reason
}


def _set_state(state: str) -> Call:
    return lambda j, r: j.set_state(r, state)


def _seal(journal: Journal, record_id: str) -> None:
    journal.seal(record_id, lambda info, digests: b"manifest")


CALLS: dict[str, Call] = {
    "mark_sealed": lambda j, r: j.mark_sealed(r, b"manifest"),
    "seal": _seal,
    "start_upload": lambda j, r: j.start_upload(r, "http://intake/files/t"),
    "upload_failed": lambda j, r: j.upload_failed(r, "link down"),
    "upload_failed(forget_url)": lambda j, r: j.upload_failed(r, "lost", forget_url=True),
    "reject": lambda j, r: j.reject(r, "intake refused the record [test]"),
    "requeue": lambda j, r: j.requeue(r, "kiosk queue retry"),
    "acknowledge": lambda j, r: j.acknowledge(r, b"signed receipt"),
    "mark_exported": lambda j, r: j.mark_exported([r], "test-01-0000001-to-0000001.ektp"),
    **{f"set_state({s})": _set_state(s) for s in STATES},
}


# -- the watch: every state change the database makes ----------------------------------------
def watch_state_changes(journal: Journal) -> Callable[[], list[tuple[str, str, str]]]:
    """Make the journal's connection note every change of ``records.state`` (a TEMP trigger:
    it lives on that connection only and never reaches the file); return a function giving
    the changes seen so far as (record, from, to)."""
    conn = journal._conn
    assert conn is not None
    conn.execute("CREATE TEMP TABLE seen_moves (n INTEGER PRIMARY KEY, record TEXT,"
                 " from_state TEXT, to_state TEXT)")
    conn.execute("CREATE TEMP TRIGGER note_move AFTER UPDATE OF state ON main.records"
                 " WHEN OLD.state IS NOT NEW.state BEGIN"
                 " INSERT INTO seen_moves (record, from_state, to_state)"
                 " VALUES (NEW.id, OLD.state, NEW.state); END")

    def seen() -> list[tuple[str, str, str]]:
        with journal._reading() as c:
            return [tuple(row) for row in c.execute(  # type: ignore[misc]
                "SELECT record, from_state, to_state FROM seen_moves ORDER BY n")]

    return seen


def audited_moves(journal: Journal) -> list[tuple[str, str, str]]:
    return [(str(e.details["record"]), str(e.details["from_state"]), str(e.details["to_state"]))
            for e in journal.audit_events(100_000, event="record_state")]


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Journal, Callable[[], list[tuple[str, str, str]]]]]:
    with open_journal(tmp_path / "journal.db") as j:
        yield j, watch_state_changes(j)


# -- the table, through the public methods -----------------------------------------------------
def test_the_table_covers_every_public_method_and_state() -> None:
    assert set(MOVES) == set(CALLS)
    for moves in MOVES.values():
        assert set(moves) <= set(STATES) and set(moves.values()) <= set(STATES)


def test_the_public_methods_make_exactly_the_moves_of_the_transition_table() -> None:
    made = {(old, new) for moves in MOVES.values() for old, new in moves.items() if old != new}
    assert made == {(old, new) for old, news in TRANSITIONS.items() for new in news}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("method", sorted(MOVES))
def test_each_method_moves_each_state_as_the_table_says(
        watched: tuple[Journal, Callable[[], list[tuple[str, str, str]]]],
        method: str, state: str) -> None:
    journal, seen = watched
    record_id = record_in(journal, state)
    before, events_before, seen_before = (journal.record(record_id), audited_moves(journal),
                                          seen())
    assert seen_before == events_before  # the path here, too, went through the one method
    if state in MOVES[method]:
        CALLS[method](journal, record_id)
        after = MOVES[method][state]
        assert journal.record(record_id).state == after
        new_events = audited_moves(journal)[len(events_before):]
        assert new_events == ([] if after == state else [(record_id, state, after)])
    else:
        with pytest.raises(IllegalStateChange):
            CALLS[method](journal, record_id)
        assert journal.record(record_id) == before  # refused: nothing changed at all
        assert audited_moves(journal) == events_before
    assert seen() == audited_moves(journal)


def test_a_whole_life_leaves_one_event_per_state_change(
        watched: tuple[Journal, Callable[[], list[tuple[str, str, str]]]]) -> None:
    journal, seen = watched
    rid = journal.create_record(assisted=False).id
    journal.mark_sealed(rid, b"manifest")
    journal.start_upload(rid, "http://intake/files/1")
    journal.start_upload(rid, "http://intake/files/2")  # a new URL: no move, no event
    journal.upload_failed(rid, "link down")
    journal.upload_failed(rid, "intake lost it", forget_url=True)
    journal.set_state(rid, "exported")
    journal.set_state(rid, "uploading")
    journal.reject(rid, "intake refused the record [test]")
    journal.requeue(rid, "kiosk queue retry")
    journal.acknowledge(rid, b"signed receipt")
    journal.set_state(rid, "purged")
    chain = [(old, new) for _, old, new in audited_moves(journal)]
    assert chain == [("in_progress", "sealed"), ("sealed", "uploading"), ("uploading", "sealed"),
                     ("sealed", "exported"), ("exported", "uploading"),
                     ("uploading", "rejected"), ("rejected", "sealed"),
                     ("sealed", "acknowledged"), ("acknowledged", "purged")]
    assert seen() == audited_moves(journal)


# -- the checks can fail ----------------------------------------------------------------------
def test_a_state_change_behind_the_one_method_is_seen_without_its_event(
        watched: tuple[Journal, Callable[[], list[tuple[str, str, str]]]]) -> None:
    journal, seen = watched
    record_id = record_in(journal, "sealed")
    assert seen() == audited_moves(journal)
    # The planted defect: a method that moves the record with its own UPDATE.
    journal._write(lambda c: c.execute(
        "UPDATE records SET state = 'exported' WHERE id = ?", (record_id,)))
    assert seen() != audited_moves(journal)
    assert seen()[-1] == (record_id, "sealed", "exported")


# An UPDATE of the records table that assigns ``state`` anywhere in its SET list (before
# its WHERE), however the statement is split over string pieces.
STATE_WRITE = re.compile(r"\bUPDATE[\s\"']+records[\s\"']+SET\b(?:(?!\bWHERE\b).)*?\bstate\s*=",
                         re.IGNORECASE | re.DOTALL)


def state_writes(source: str) -> int:
    """How many SQL statements in ``source`` assign a record's state."""
    return len(STATE_WRITE.findall(source))


def test_only_the_one_method_assigns_a_state_anywhere_in_the_kiosk() -> None:
    root = Path(kiosk.__file__).parent
    found = {str(p.relative_to(root)): n for p in sorted(root.rglob("*.py"))
             if (n := state_writes(p.read_text(encoding="utf-8")))}
    assert found == {"journal/states.py": 1}


@pytest.mark.parametrize("planted", [
    'conn.execute("UPDATE records SET state = \'sealed\', manifest = ? WHERE id = ?", (m, r))',
    'conn.execute("UPDATE records SET attempts = 0, state = \'sealed\' WHERE id = ?", (r,))',
    'conn.execute("UPDATE records "\n  "SET last_error = NULL,"\n  " state = ? WHERE id = ?", x)',
    "conn.execute('update records set STATE=? where id=?', x)",
])
def test_the_source_scan_finds_a_planted_state_write(planted: str) -> None:
    assert state_writes(planted) == 1


def test_the_source_scan_leaves_other_updates_alone() -> None:
    assert state_writes('conn.execute("UPDATE records SET attempts = 0 WHERE state = ?", x)') == 0
    assert state_writes('conn.execute("UPDATE steps SET state = ? WHERE id = ?", x)') == 0


def test_the_watch_trigger_never_reaches_the_file(
        watched: tuple[Journal, Callable[[], list[tuple[str, str, str]]]]) -> None:
    journal, _ = watched
    record_in(journal, "acknowledged")
    conn = sqlite3.connect(journal.path)
    try:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_schema")}
    finally:
        conn.close()
    assert not names & {"seen_moves", "note_move"}
