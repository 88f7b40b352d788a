"""The uploader's report of the record in flight, as `kiosk status` reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.status import describe_in_flight
from kiosk.upload.progress import PROGRESS_FILE, ProgressFile, read_progress
from tests.durability import record_fsyncs, run_on_a_full_disk


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_sent_kept_and_the_rate_of_the_last_minute(tmp_path: Path) -> None:
    clock = FakeClock()
    meter = ProgressFile(tmp_path, clock=clock)
    meter.start("poso-01-0000001-abcdef", 600_000, 0)
    doc = read_progress(tmp_path)
    assert doc is not None
    assert (doc["record_id"], doc["bytes_total"], doc["bytes_sent"], doc["rate_bps"]) == (
        "poso-01-0000001-abcdef", 600_000, 0, None)
    for second in range(1, 91):  # 90 s at 2,000 B/s, then 20 s at 500 B/s
        clock.now += 1
        meter.sent(2_000 * second)
    assert read_progress(tmp_path)["bytes_sent"] == 180_000
    assert read_progress(tmp_path)["rate_bps"] == 2000.0
    # a reset: the intake kept 150,000; the next attempt starts from there
    meter.kept(150_000)
    meter.start("poso-01-0000001-abcdef", 600_000, 150_000)
    for _ in range(20):
        clock.now += 1
        meter.sent(read_progress(tmp_path)["bytes_sent"] + 500)
    doc = read_progress(tmp_path)
    assert doc["bytes_kept"] == 150_000 and doc["bytes_sent"] == 160_000
    # the last minute: 40 s at 2,000 B/s and 20 s at 500 B/s (resent bytes count: they moved)
    assert doc["rate_bps"] == (40 * 2000 + 20 * 500) / 60
    line = describe_in_flight(doc)
    assert line.startswith("sending poso-01-0000001-abcdef: 156 KiB of 586 KiB (the intake "
                           "holds 146 KiB), 1.5 KiB/s over the last minute")
    meter.done()
    assert not (tmp_path / PROGRESS_FILE).exists() and read_progress(tmp_path) is None


def test_writes_are_throttled_to_one_a_second(tmp_path: Path) -> None:
    clock = FakeClock()
    meter = ProgressFile(tmp_path, clock=clock)
    meter.start("poso-01-0000002-abcdef", 100, 0)
    for position in range(1, 50):
        clock.now += 0.01
        meter.sent(position)
    assert read_progress(tmp_path)["bytes_sent"] == 0  # written at start, not since
    clock.now += 1
    meter.sent(60)
    assert read_progress(tmp_path)["bytes_sent"] == 60


def test_a_report_left_by_a_dead_uploader_or_garbage_is_not_shown(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path = tmp_path / PROGRESS_FILE
    path.write_text(json.dumps({"record_id": "x", "pid": int(dead.stdout)}))
    assert read_progress(tmp_path) is None
    path.write_text("{not json")
    assert read_progress(tmp_path) is None
    path.write_text("[1, 2]")
    assert read_progress(tmp_path) is None
    assert read_progress(tmp_path / "missing") is None


def test_progress_is_written_without_fsync(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every second of a transfer: no fsync (SD-card wear), yet no temporary file left."""
    synced = record_fsyncs(monkeypatch)
    clock = FakeClock()
    meter = ProgressFile(tmp_path, clock=clock)
    meter.start("test-01-000001-aaaaaa", 1000, 0)
    clock.now += 1.0
    meter.sent(500)
    assert synced == []
    assert read_progress(tmp_path)["bytes_sent"] == 500
    assert [p.name for p in tmp_path.iterdir()] == [PROGRESS_FILE]


FULL_DISK_PROGRESS = """
from pathlib import Path
from kiosk.upload.progress import ProgressFile
meter = ProgressFile(Path(sys.argv[1]))
meter.start("test-01-000001-aaaaaa", 1000, 0)
meter.sent(500)
print("sending")
"""


def test_progress_on_a_full_disk_is_skipped_and_leaves_no_temporary(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / PROGRESS_FILE).write_text("the last report")
    done = run_on_a_full_disk(FULL_DISK_PROGRESS, str(data_dir), limit=64, tmp_path=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "sending"), done.stderr
    assert (data_dir / PROGRESS_FILE).read_text() == "the last report"
    assert [p.name for p in data_dir.iterdir()] == [PROGRESS_FILE]


def test_a_new_meter_sweeps_the_temp_files_a_killed_uploader_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # its process id is now free
    gone.wait()
    left = tmp_path / f".upload-progress.json.tmp-{gone.pid}-0123abcd"
    left.write_text('{"record"')
    ProgressFile(tmp_path)
    assert not left.exists()
