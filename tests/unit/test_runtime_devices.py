"""Runtime.open without the devices required (the touchscreen's): a device that does not
open is a fault kept beside an open journal, tried again by retry_devices; the commands'
Runtime.open (devices required) still refuses as before."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import load_config
from kiosk.errors import DeviceNotFound, NotAccepting, RefusalCategory
from kiosk.runtime import Runtime
from tests.conftest import write_config


class Camera:
    """A camera that opens only once plugged in (``plugged``), and says when it closed."""

    plugged = False

    def __init__(self) -> None:
        self.closed = True

    def open(self) -> None:
        if not Camera.plugged:
            raise DeviceNotFound("/dev/video0 does not exist: is the webcam plugged in?")
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def cameras(monkeypatch: pytest.MonkeyPatch) -> list[Camera]:
    """Every camera the runtime made, in order; the other kinds are the simulated ones."""
    import kiosk.runtime

    real = kiosk.runtime.create_device
    made: list[Camera] = []

    def create_device(kind: str, options: dict[str, Any]) -> Any:
        if kind != "camera":
            return real(kind, options)
        made.append(Camera())
        return made[-1]

    Camera.plugged = False
    monkeypatch.setattr(kiosk.runtime, "create_device", create_device)
    return made


def test_a_device_that_does_not_open_leaves_the_journal_open(
        tmp_path: Path, cameras: list[Camera], caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write_config(tmp_path))
    caplog.set_level(logging.INFO, logger="kiosk.runtime")
    runtime = Runtime.open(config, kinds=("fingerprint", "camera"), require_accepting=False,
                           devices_required=False)
    try:
        assert set(runtime.devices) == {"fingerprint"}
        assert runtime.journal.records() == []  # open, and usable
        reason = "camera device not ready: /dev/video0 does not exist: is the webcam plugged in?"
        assert runtime.device_faults == {"camera": reason}
        assert runtime.device_refusal == reason
        logged = len(caplog.records)
        assert runtime.retry_devices() == [] and runtime.device_refusal == reason
        assert len(caplog.records) == logged  # the same fault is not logged again
        Camera.plugged = True
        assert runtime.retry_devices() == ["camera"]
        assert runtime.devices["camera"] is cameras[-1] and not cameras[-1].closed
        assert runtime.device_faults == {} and runtime.device_refusal is None
        assert runtime.retry_devices() == [] and len(cameras) == 3
    finally:
        runtime.close()
    assert cameras[-1].closed  # closed with the others


def test_a_device_opened_after_the_runtime_closed_is_not_kept(
        tmp_path: Path, cameras: list[Camera]) -> None:
    config = load_config(write_config(tmp_path))
    runtime = Runtime.open(config, kinds=("camera",), require_accepting=False,
                           devices_required=False)
    runtime.close()
    Camera.plugged = True
    assert runtime.retry_devices() == []
    assert "camera" not in runtime.devices and cameras[-1].closed


def test_the_commands_still_refuse_a_device_that_does_not_open(
        tmp_path: Path, cameras: list[Camera]) -> None:
    config = load_config(write_config(tmp_path))
    with pytest.raises(NotAccepting) as raised:
        Runtime.open(config, kinds=("camera",), require_accepting=False)
    assert raised.value.category == RefusalCategory.DEVICE
    assert raised.value.reason.startswith("camera device not ready: /dev/video0")


def test_the_card_reader_asked_again_is_logged_missing_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import kiosk.runtime

    real = kiosk.runtime.create_device
    plugged = {"card": False}

    def create_device(kind: str, options: dict[str, Any]) -> Any:
        if kind == "card" and not plugged["card"]:
            raise DeviceNotFound("no a smart-card reader; readers seen: none")
        return real(kind, options)

    monkeypatch.setattr(kiosk.runtime, "create_device", create_device)
    caplog.set_level(logging.INFO, logger="kiosk.runtime")
    with Runtime.open(load_config(write_config(tmp_path)), kinds=(),
                      require_accepting=False) as runtime:
        for _ in range(3):
            assert runtime.open_optional("card") is None
        assert [r.levelname for r in caplog.records if r.getMessage().startswith("card")] == [
            "WARNING"]
        plugged["card"] = True
        reader = runtime.open_optional("card")
        assert reader is not None and runtime.devices["card"] is reader
        assert runtime.open_optional("card") is reader  # one reader, not a second
        assert caplog.records[-1].getMessage() == "card device opened"
    assert reader.closed
