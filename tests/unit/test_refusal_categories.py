"""Why the kiosk is closed, by kind: each refusal says its RefusalCategory where it is decided
(the acceptance check, the runtime's start-up, the touchscreen's own check failing), beside
the English reason it always gave, and the closed screen says that kind to the officer in
the screen's language (never the English reason as a sentence of an Indonesian screen)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kiosk.config import Config, load_config
from kiosk.errors import DeviceError, NotAccepting, RefusalCategory
from kiosk.i18n import translate
from kiosk.power import PowerStatus
from kiosk.power.policy import PowerPolicy, Thresholds
from kiosk.power.watcher import STATE_FILE, publish_state
from kiosk.runtime import Acceptance, Runtime, check_acceptance, disk_refusal
from kiosk.screens.flow import Flow
from kiosk.screens.messages import CLOSED_SUMMARY, CLOSED_UNKNOWN, closed_summary
from tests.conftest import write_config
from tests.unit.screens.harness import FakeClock, RecordingView, SyncExecutor

BATTERY_12 = PowerStatus("battery", 12.0, 3000.0, False)
BATTERY_SHORT = PowerStatus("battery", 60.0, 400.0, False)  # below min_runtime_s=600
BATTERY_LB = PowerStatus("battery", 25.0, 200.0, True)      # the UPS's low battery: shutdown

#: What the officer reads on the closed screen for each kind, in each language.
SUMMARIES = {
    RefusalCategory.STORAGE_FULL: ("Penyimpanan kios penuh.", "The kiosk's storage is full."),
    RefusalCategory.STORAGE_UNUSABLE: ("Kios tidak dapat menulis ke penyimpanannya.",
                                       "The kiosk cannot write to its storage."),
    RefusalCategory.BATTERY_LOW: ("Listrik padam dan baterai lemah.",
                                  "Power cut, and the battery is low."),
    RefusalCategory.POWER_SHUTDOWN: ("Kios sedang dimatikan karena baterai hampir habis.",
                                     "The kiosk is shutting down: the battery is running out."),
    RefusalCategory.JOURNAL: ("File data rekaman rusak. Teknisi harus memeriksanya.",
                              "The recordings file is damaged. A maintainer must check it."),
    RefusalCategory.DEVICE: ("Salah satu perangkat kios tidak berfungsi.",
                             "A device of the kiosk is not working."),
    RefusalCategory.STARTUP: ("Kios gagal dijalankan.", "The kiosk could not start."),
    RefusalCategory.CONFIGURATION: ("Pengaturan kios salah. Teknisi harus memperbaikinya.",
                                    "The kiosk's settings are wrong. A maintainer must "
                                    "correct them."),
    RefusalCategory.INTERNAL: ("Pemeriksaan internal kios gagal.",
                               "The kiosk's own check failed."),
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path))


def _assert_said_in_both_languages(category: str) -> None:
    indonesian, english = SUMMARIES[RefusalCategory(category)]
    assert translate(closed_summary(category), "id") == indonesian
    assert translate(closed_summary(category), "en") == english


# -- the acceptance check: one case per refusal branch --------------------------------------
def _quarantined(config: Config, _mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()
    (config.data_dir / "journal.db.corrupt-20250314T031522Z").write_bytes(b"kept")
    return "journal was found corrupt and kept as "


def _reserve(config: Config, mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()
    mp.setitem(config["kiosk"], "disk_reserve_bytes", 2**40)
    return "disk reserve reached: "


def _no_space(config: Config, mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()
    usage = shutil.disk_usage(config.data_dir)
    mp.setattr(shutil, "disk_usage", lambda _p: usage._replace(free=0))
    return "disk full: no free space in "


def _a_file(config: Config, _mp: pytest.MonkeyPatch) -> str:
    config.data_dir.write_text("")
    return f"data directory {config.data_dir} is not a directory"


def _read_only(config: Config, mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()
    real = os.statvfs

    class ReadOnly:
        def __init__(self, result: os.statvfs_result) -> None:
            self._result = result
            self.f_flag = result.f_flag | os.ST_RDONLY

        def __getattr__(self, name: str) -> Any:
            return getattr(self._result, name)

    mp.setattr(os, "statvfs", lambda path: ReadOnly(real(path)))
    return "is on a read-only file system"


def _unwritable(config: Config, mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()
    real = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(os.fsdecode(path)) == config.data_dir and mode & os.W_OK:
            return False
        return real(path, mode, **kwargs)

    mp.setattr(os, "access", access)
    return "is not writable by "


def _unusable(config: Config, mp: pytest.MonkeyPatch) -> str:
    config.data_dir.mkdir()

    def fails(_path: Any) -> Any:
        raise OSError(5, "Input/output error")

    mp.setattr(shutil, "disk_usage", fails)
    return "unusable: Input/output error"


def _watcher(*readings: PowerStatus) -> Callable[[Config, pytest.MonkeyPatch], str]:
    """The power watcher's published verdict after ``readings``, as ``kiosk power watch``
    writes it."""
    def publish(config: Config, _mp: pytest.MonkeyPatch) -> str:
        config.data_dir.mkdir()
        policy = PowerPolicy(Thresholds(debounce_s=0))
        for now, status in enumerate(readings):
            policy.observe(status, float(now))
        assert not policy.accepting
        publish_state(config.data_dir / STATE_FILE, policy, readings[-1])
        return policy.reason
    return publish


REFUSALS = {
    "quarantined journal": (_quarantined, RefusalCategory.JOURNAL),
    "disk reserve reached": (_reserve, RefusalCategory.STORAGE_FULL),
    "no free space": (_no_space, RefusalCategory.STORAGE_FULL),
    "data directory is a file": (_a_file, RefusalCategory.STORAGE_UNUSABLE),
    "read-only file system": (_read_only, RefusalCategory.STORAGE_UNUSABLE),
    "not writable by the kiosk": (_unwritable, RefusalCategory.STORAGE_UNUSABLE),
    "disk cannot be asked": (_unusable, RefusalCategory.STORAGE_UNUSABLE),
    "watcher: battery low": (_watcher(BATTERY_SHORT, BATTERY_SHORT), RefusalCategory.BATTERY_LOW),
    "watcher: shutting down": (_watcher(BATTERY_SHORT, BATTERY_LB),
                               RefusalCategory.POWER_SHUTDOWN),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_of_the_check_says_its_kind(config: Config, monkeypatch: pytest.MonkeyPatch,
                                                 case: str) -> None:
    make, category = REFUSALS[case]
    words = make(config, monkeypatch)
    acceptance = check_acceptance(config, ask_ups=False)
    assert not acceptance.accepting
    assert words in (acceptance.reason or ""), acceptance  # the English reason, as before
    assert acceptance.category == category
    _assert_said_in_both_languages(acceptance.category)


def test_a_low_battery_reading_says_its_kind_without_the_watcher(config: Config) -> None:
    acceptance = check_acceptance(config, BATTERY_12)
    assert acceptance == Acceptance(False, "on battery at 12%, below "
                                    "power.min_battery_percent=30", True,
                                    RefusalCategory.BATTERY_LOW)


def test_the_storage_refusal_the_doctor_reads_is_unchanged(config: Config,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """``disk_refusal`` (the doctor's) still answers the English reason alone."""
    _reserve(config, monkeypatch)
    assert disk_refusal(config) == check_acceptance(config, ask_ups=False).reason
    assert (disk_refusal(config) or "").startswith("disk reserve reached: ")


def test_accepting_has_no_kind_and_old_callers_keep_building_acceptances(config: Config
                                                                          ) -> None:
    assert check_acceptance(config, ask_ups=False) == Acceptance(True, None, False)
    assert Acceptance(False, "a reason").category == ""
    assert translate(closed_summary(""), "id") == "Lihat rincian teknis di bawah."
    assert translate(closed_summary("no such kind"), "en") == CLOSED_UNKNOWN


def test_every_kind_has_its_summary_in_both_languages() -> None:
    assert set(CLOSED_SUMMARY) == set(RefusalCategory) == set(SUMMARIES)
    for category in RefusalCategory:
        _assert_said_in_both_languages(category)


# -- the runtime's start-up -----------------------------------------------------------------
def test_a_refusal_at_start_up_carries_the_checks_kind(config: Config,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _quarantined(config, monkeypatch)
    with pytest.raises(NotAccepting) as raised:
        Runtime.open(config, kinds=())
    assert raised.value.category == RefusalCategory.JOURNAL
    assert raised.value.reason.startswith("journal was found corrupt and kept as ")


def test_unusable_sealing_keys_are_a_start_up_failure(tmp_path: Path) -> None:
    config = load_config(write_config(
        tmp_path, f'[sealing]\ncentral_key = "{tmp_path / "missing" / "central.pub"}"\n'))
    with pytest.raises(NotAccepting) as raised:
        Runtime.open(config, kinds=(), require_accepting=False)
    assert raised.value.category == RefusalCategory.STARTUP
    assert raised.value.reason.startswith("sealing keys unusable: ")


def test_a_device_that_does_not_open_is_a_device_failure(config: Config,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    class Dead:
        def open(self) -> None:
            raise DeviceError("no answer on /dev/video0")

    monkeypatch.setattr("kiosk.runtime.create_device", lambda kind, options: Dead())
    with pytest.raises(NotAccepting) as raised:
        Runtime.open(config, kinds=("camera",), require_accepting=False)
    assert raised.value.category == RefusalCategory.DEVICE
    assert raised.value.reason == "camera device not ready: no answer on /dev/video0"


def test_not_accepting_without_a_kind_still_works() -> None:
    assert NotAccepting("x").category == "" and NotAccepting("x").reason == "x"


# -- the touchscreen's flow -----------------------------------------------------------------
def _flow() -> Flow:
    clock = FakeClock()
    return Flow(SyncExecutor(clock), RecordingView(), clock=clock)


def test_the_flow_keeps_the_checks_kind_for_the_closed_screen() -> None:
    flow = _flow()
    flow.set_runtime(SimpleNamespace(devices={}))
    flow.set_acceptance(False, "disk reserve reached: ...", False, RefusalCategory.STORAGE_FULL)
    assert flow.screen == "closed"
    assert (flow.closed_reason, flow.closed_category) == (
        "disk reserve reached: ...", RefusalCategory.STORAGE_FULL)
    flow.set_acceptance(True, "", False)
    assert flow.screen == "welcome" and flow.closed_category == ""


@pytest.mark.parametrize(("error", "category", "reason"), [
    (NotAccepting("camera device not ready: gone", RefusalCategory.DEVICE),
     RefusalCategory.DEVICE, "camera device not ready: gone"),
    (NotAccepting("journal corrupt", RefusalCategory.JOURNAL), RefusalCategory.JOURNAL,
     "journal corrupt"),
    (OSError("boom"), RefusalCategory.STARTUP, "OSError: boom"),
])
def test_a_runtime_that_did_not_open_closes_with_its_kind(error: BaseException, category: str,
                                                          reason: str) -> None:
    flow = _flow()
    flow.runtime_failed(error)
    flow.set_acceptance(True, "", False)  # the check itself accepts: the runtime does not
    assert flow.screen == "closed"
    assert (flow.closed_reason, flow.closed_category) == (reason, category)
    _assert_said_in_both_languages(flow.closed_category)


def test_an_acceptance_check_that_failed_is_an_internal_failure() -> None:
    flow = _flow()
    flow.set_runtime(SimpleNamespace(devices={}))
    flow.acceptance_check_failed(PermissionError("power.json"))
    assert flow.screen == "closed"
    assert (flow.closed_reason, flow.closed_category) == (
        "internal check failed: PermissionError", RefusalCategory.INTERNAL)
    _assert_said_in_both_languages(flow.closed_category)
