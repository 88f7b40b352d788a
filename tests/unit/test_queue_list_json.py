"""`kiosk queue list --json` on a journal that cannot be read: still JSON on stdout (a list,
as DESIGN's contract has it: one entry per record), the error on stderr, exit 1: a script's
JSON parser never meets an empty stdout, and the exit status tells it from an empty queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.cli import main
from tests.conftest import write_config


def _file_as_data_dir(data: Path) -> str:
    data.write_text("not a directory\n")
    return f"data directory {data} is not a directory"


def _no_data_dir(data: Path) -> str:
    return f"data directory {data} does not exist"


def _empty_journal(data: Path) -> str:
    data.mkdir()
    (data / "journal.db").write_bytes(b"")
    return f"journal {data / 'journal.db'} is empty (0 bytes)"


def _not_a_journal(data: Path) -> str:
    data.mkdir()
    (data / "journal.db").write_bytes(b"this is not an SQLite database at all\n" * 200)
    return str(data / "journal.db")


@pytest.mark.parametrize("spoil", [_file_as_data_dir, _no_data_dir, _empty_journal,
                                   _not_a_journal])
def test_queue_list_json_on_an_unreadable_journal_is_a_json_list_and_exit_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        spoil: Callable[[Path], str]) -> None:
    """It printed nothing on stdout (`json.loads('')` fails in the script), where `status
    --json` prints valid JSON with the error."""
    config_path = write_config(tmp_path)
    words = spoil(tmp_path / "data")
    code = main(["queue", "list", "--json", "--config", str(config_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == [], out
    assert err.startswith("kiosk queue list: ") and words in err, err
    assert len(err.strip().splitlines()) == 1, err
    code = main(["status", "--json", "--config", str(config_path)])
    out, err = capsys.readouterr()
    assert code == 1 and words in json.loads(out)["journal"]["error"], err  # the same verdict
