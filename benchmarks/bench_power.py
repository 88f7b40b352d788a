"""From the UPS's low-battery signal to the shutdown command.

(a) ``nut``: the real thing. A private upsd + dummy-ups (``tests/hil/nut_harness.py``),
``kiosk power watch`` as its own process with the shipped ``[power]`` defaults
(``poll_interval_s`` 0.5), a journal that exists already (as on a running kiosk), and a
``shutdown_command`` that writes a timestamp. The UPS goes ``OB LB``; the time runs until
the timestamp. Its parts, from clocks that are all wall time:

* ``pickup``: the change reaching upsd (an independent probe asks upsd every 10 ms).
  dummy-ups re-reads its file once a second; on a kiosk this is the UPS driver's poll.
* ``poll``: upsd has it -> the watcher has read it (its "power: shutdown" log line).
* ``journal``: the audit events + WAL checkpoint (the watcher opens the journal for it).
* ``command``: spawning the command until it has written its timestamp.

(b) ``inprocess``: the same policy and watch loop in this process with a scripted reader
(no NUT, no sockets), the real journal and the real command runner: the kiosk's own share.
Run on an empty journal and on one of ``records`` sealed records whose pages were evicted
from the page cache first (as on a kiosk that has not read its journal lately), because
the watcher opens the journal to write the shutdown event, and opening runs
``PRAGMA quick_check`` over every table but the payloads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import evict
from kiosk.journal import Journal
from kiosk.power import PowerStatus
from kiosk.power.policy import Thresholds
from kiosk.power.watcher import _run_shutdown, watch

REPO = Path(__file__).resolve().parents[1]

TIMEOUT_S = 20.0
MAINS = PowerStatus("mains", 100.0, 3600.0, low_battery=False, status="OL")
LOW = PowerStatus("battery", 8.0, 90.0, low_battery=True, status="OB LB")


def _stamp_command(path: Path) -> list[str]:
    tmp = path.with_suffix(".tmp")
    return ["sh", "-c", f'date +%s.%N > "{tmp}" && mv "{tmp}" "{path}"']


def _wait_file(path: Path, timeout: float = TIMEOUT_S) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not written within {timeout} s")
        time.sleep(0.002)
    return float(path.read_text())


def _log_time(log: str, needle: str) -> float:
    """Wall time of the first log line containing ``needle`` (logging's local time, ms)."""
    for line in log.splitlines():
        if needle in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise ValueError(f"no log line with {needle!r}:\n{log[-2000:]}")


def _upsd_status(host: str, port: int, ups: str) -> str:
    with socket.create_connection((host, port), timeout=1.0) as s:
        s.sendall(f"GET VAR {ups} ups.status\n".encode())
        return s.recv(512).decode(errors="replace").strip().partition('"')[2].rstrip('"')


# -- (a) the real upsd ---------------------------------------------------------------------
def _nut_once(nut: Any, base: Path) -> dict[str, float]:
    from tests.conftest import write_config  # the tests' config writer: one format

    nut.reset()
    base.mkdir()
    stamp = base / "shutdown-ran"
    config = write_config(base, nut.power_config + f"""
shutdown_command = {json.dumps(_stamp_command(stamp))}
""")
    env = dict(os.environ, KIOSK_CONFIG=str(config), PYTHONPATH=str(REPO),
               KIOSK_SYSTEM_CONFIG=str(base / "no-etc.toml"))
    subprocess.run([sys.executable, "-c", "from kiosk.config import load_config\n"
                    "from kiosk.runtime import open_journal\n"
                    "open_journal(load_config()).close()"], env=env, check=True, cwd=REPO)
    log_path = base / "watcher.log"
    with open(log_path, "wb") as out:
        watcher = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "power", "watch"],
                                   env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (base / "data" / "power.json").exists():
            if time.monotonic() > deadline or watcher.poll() is not None:
                raise RuntimeError("the watcher did not start:\n" + log_path.read_text())
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 1.0))  # no phase lock with dummy-ups or the poll
        start = time.time()
        nut.set_status("OB LB", **{"battery.charge": "8", "battery.runtime": "90"})
        while _upsd_status(nut.host, nut.port, nut.ups) != "OB LB":
            if time.time() - start > TIMEOUT_S:
                raise TimeoutError("upsd never served OB LB")
            time.sleep(0.01)
        at_upsd = time.time()
        ran = _wait_file(stamp)
        if watcher.wait(timeout=TIMEOUT_S) != 0:
            raise RuntimeError("the watcher failed:\n" + log_path.read_text())
    finally:
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=TIMEOUT_S)
    log = log_path.read_text()
    seen = _log_time(log, "power: shutdown")
    running = _log_time(log, "running shutdown command")
    return {"total_s": ran - start, "pickup_s": at_upsd - start,
            "poll_s": max(seen - at_upsd, 0.0), "journal_s": running - seen,
            "command_s": ran - running}


def run_nut(rounds: int = 3) -> dict[str, float]:
    from tests.hil.nut_harness import NutServer

    runs = []
    with NutServer() as nut, tempfile.TemporaryDirectory(
            dir=os.environ.get("BENCH_DIR")) as tmp:
        for i in range(rounds):
            runs.append(_nut_once(nut, Path(tmp) / f"run-{i}"))
    return _medians(runs) | {"rounds": rounds, "poll_interval_s": 0.5}


# -- (b) in process ---------------------------------------------------------------------------
class ScriptedUps:
    """A reader that says mains until ``fail()``; remembers when it first said LB."""

    def __init__(self) -> None:
        self._low = threading.Event()
        self.flipped = 0.0
        self.read_low = 0.0

    def fail(self) -> None:
        self.flipped = time.time()
        self._low.set()

    def read(self) -> PowerStatus:
        if not self._low.is_set():
            return MAINS
        if not self.read_low:
            self.read_low = time.time()
        return LOW


def _inprocess_once(base: Path, journal_path: Path, poll_interval_s: float
                    ) -> dict[str, float]:
    stamp = base / f"shutdown-{time.monotonic_ns()}"
    ups = ScriptedUps()
    started: list[float] = []

    def run_shutdown(command: Sequence[str]) -> None:
        started.append(time.time())
        _run_shutdown(command)

    def journal() -> Journal:
        return Journal.open(journal_path, kiosk_id="bench-01", boot_id="bench",
                            clock_trusted=lambda: True)

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(watch(
        ups.read, thresholds=Thresholds(), state_path=base / "power.json",
        journal_factory=journal, shutdown_command=_stamp_command(stamp),
        poll_interval_s=poll_interval_s, run_shutdown=run_shutdown)), daemon=True)
    thread.start()
    time.sleep(random.uniform(0.0, poll_interval_s) + 0.05)
    evict(journal_path)
    ups.fail()
    ran = _wait_file(stamp)
    thread.join(timeout=TIMEOUT_S)
    if result != [0]:
        raise RuntimeError(f"watch() returned {result}")
    return {"total_s": ran - ups.flipped, "poll_s": ups.read_low - ups.flipped,
            "journal_s": started[0] - ups.read_low, "command_s": ran - started[0]}


@contextlib.contextmanager
def _journal_with(base: Path, records: int) -> Iterator[Path]:
    path = base / f"journal-{records}.db"
    if records:
        from benchmarks.bench_recovery import build, small_steps
        from kiosk.sealing import generate_central_keypair

        keys = base / f"keys-{records}"
        generate_central_keypair(keys)
        build(path, records, small_steps(), keys)
    else:
        Journal.open(path, kiosk_id="bench-01", boot_id="bench",
                     clock_trusted=lambda: True).close()
    yield path


def run_inprocess(rounds: int = 10, records: int = 10_000, poll_interval_s: float = 0.5
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds, "poll_interval_s": poll_interval_s}
    quiet = logging.getLogger("kiosk")  # the watcher's WARNINGs would flood the table
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        _run_inprocess(out, rounds, records, poll_interval_s)
    finally:
        quiet.setLevel(level)
    return out


def _run_inprocess(out: dict[str, Any], rounds: int, records: int,
                   poll_interval_s: float) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        for n in sorted({0, records}):
            with _journal_with(base, n) as path:
                runs = [_inprocess_once(base, path, poll_interval_s) for _ in range(rounds)]
                out[f"journal_{n}"] = _medians(runs) | {"bytes": path.stat().st_size}


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {
        "total_max_s": max(r["total_s"] for r in runs)}


def run(rounds: int = 3, records: int = 10_000) -> dict[str, Any]:
    return {"nut": run_nut(rounds), "inprocess": run_inprocess(records=records)}


def rows(r: dict[str, Any]) -> list[str]:
    """README table rows."""
    n = r["nut"]
    out = [
        f"| low battery (UPS `OB LB`) -> shutdown command ran, real upsd + dummy-ups, "
        f"`kiosk power watch` with the shipped poll ({n['poll_interval_s']:g} s), "
        f"median of {n['rounds']} | **{n['total_s']:.2f} s** (max {n['total_max_s']:.2f}): "
        f"dummy-ups pickup {n['pickup_s']:.2f} + watcher poll {n['poll_s']:.2f} + journal "
        f"{n['journal_s'] * 1000:.0f} ms + command {n['command_s'] * 1000:.0f} ms | < 5 s |"]
    for key, value in r["inprocess"].items():
        if not key.startswith("journal_"):
            continue
        records = int(key.split("_")[1])
        what = (f"{records:,} sealed records ({value['bytes'] / 2**20:.0f} MiB, not cached)"
                if records else "an empty journal")
        out.append(
            f"| the kiosk's own share (policy + watch loop in process, scripted UPS), "
            f"{what}, median of {r['inprocess']['rounds']} | **{value['total_s']:.2f} s**: "
            f"poll wait {value['poll_s']:.2f} + journal {value['journal_s'] * 1000:.0f} ms "
            f"+ command {value['command_s'] * 1000:.0f} ms | |")
    return out


if __name__ == "__main__":
    from benchmarks import print_report

    print_report(run(), rows)
