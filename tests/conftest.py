"""Shared fixtures. Tests never read the machine's /etc/kiosk/kiosk.toml."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kiosk.core.ids import RECORD_ID
from tests.pg_harness import PostgresServer

if TYPE_CHECKING:
    from tests.hil.nut_harness import NutServer
    from tests.hil.pcscd_harness import PrivatePcscd

REPO = Path(__file__).resolve().parents[1]
KIOSK = [sys.executable, "-m", "kiosk.cli"]
#: A line `kiosk demo` prints for a sealed record (``fullmatch``; group 1 is its id).
ENROLLED = re.compile(f"enrolled ({RECORD_ID.pattern})")

# Kivy, imported in-process by the screen and bridge tests, would otherwise put its own
# console handler on the root logger at import: every later test in that pytest worker
# would then log to a stderr that an earlier test captured (and closed), printing "--- Logging
# error ---" into the stderr the CLI tests compare. As the app does (kiosk/app.py): Kivy logs
# through Python's logging, and leaves its handlers alone.
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_NO_ARGS", "1")


# The longest test files, longest first (`pytest --durations=0`, summed per file, at
# 2026-11-30). `make test` hands whole files to its workers in collection order (xdist's
# loadfile), so these go first and the short ones fill in after: a long file collected last
# would otherwise run alone while the other workers sit idle. A stale list only costs time.
LONGEST_FIRST = (
    "integration/test_update.py", "integration/test_touch_flow.py",
    "integration/test_monkey.py", "integration/test_doctor.py", "integration/test_intake_server.py",
    "integration/test_upload_badlink.py", "powercut/test_power_cut.py",
    "integration/test_intake_cluster.py", "integration/test_kill.py",
    "integration/test_upload.py", "integration/test_citizen_memory.py",
    "integration/test_app_screens.py",
    "unit/test_uploader.py", "integration/test_doctor_link.py",
    "integration/test_intake_bounds.py", "integration/test_upload_refusals.py",
    "hil/test_power_watch.py", "integration/test_no_plaintext.py",
    "integration/test_watchdog.py", "integration/test_upload_kill.py",
    "hil/test_power_nut.py", "contract/test_card.py", "integration/test_widgets.py",
    "integration/test_disk_full.py", "integration/test_central_can_read.py",
    "integration/test_upload_tls.py", "integration/test_journal_export.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files of :data:`LONGEST_FIRST` first, in its order; within a file, and among
    the other files, the order stays as collected (a stable sort)."""
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    tests = Path(__file__).parent

    def key(item: pytest.Item) -> int:
        try:
            name = item.path.relative_to(tests).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)


@pytest.fixture(autouse=True)
def _isolate_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                    ) -> None:
    monkeypatch.setenv("KIOSK_SYSTEM_CONFIG", str(tmp_path_factory.getbasetemp() / "no-etc.toml"))
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _isolate_logging() -> Iterator[None]:
    """A test that runs ``kiosk.cli.main`` in process leaves the root logger a handler on
    the stderr pytest captured for it; a later test's log line then went to that closed
    stream, and logging's "--- Logging error ---" into the later test's stderr (the clean
    CI run at c5ee2dc: test_uploader's exact stderr line). Each test gets the root
    logger's handlers and level back as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def write_config(directory: Path, body: str = "") -> Path:
    """A kiosk config with its data under ``directory/data`` plus ``body``.

    ``[kiosk]`` keys in ``body`` replace the defaults written here (TOML forbids a key twice).
    """
    kiosk = {"id": '"test-01"', "data_dir": '"data"', "disk_reserve_bytes": "0"}
    rest = body
    if body.lstrip().startswith("[kiosk]"):
        lines = body.lstrip().splitlines()[1:]
        end = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
        for line in lines[:end]:
            if "=" in line:
                key, value = (part.strip() for part in line.split("=", 1))
                kiosk[key] = value
        rest = "\n".join(lines[end:]) + "\n"
    path = directory / "kiosk.toml"
    head = "[kiosk]\n" + "".join(f"{k} = {v}\n" for k, v in kiosk.items())
    path.write_text(head + rest)
    return path


@pytest.fixture
def kiosk_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def kiosk_env(config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KIOSK_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for the session (tests/pg_harness.py)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database in it, dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PrivatePcscd]:
    """A private pcscd serving virtual readers (tests/hil/pcscd_harness.py), one per process:
    libpcsclite talks to one pcscd per process, so the card contract suite and the pcsc-only
    cases share it. Skipped when ``KIOSK_HIL_PCSC_READER`` points this process at the
    system pcscd; missing packages FAIL (``make test`` installs them)."""
    from tests.hil.pcscd_harness import HarnessUnavailable, PrivatePcscd

    if os.environ.get("KIOSK_HIL_PCSC_READER", ""):
        pytest.skip("KIOSK_HIL_PCSC_READER is set: this process uses the system pcscd "
                    "(libpcsclite picks one pcscd per process); run the vcard cases "
                    "without it")
    daemon = PrivatePcscd()
    try:
        daemon.start()
    except HarnessUnavailable as exc:
        pytest.fail(f"the virtual-card suite needs a private pcscd: {exc}")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def nut_session() -> Iterator[NutServer]:
    """One dummy-ups + upsd (tests/hil/nut_harness.py) for the process, shared by the power
    contract suite and the NUT backend's own cases that only change the UPS's variables
    (each test starts from ``reset()``). Missing NUT daemons FAIL (``make test`` installs
    them)."""
    from tests.hil.nut_harness import nut_or_fail

    with nut_or_fail() as server:
        yield server
