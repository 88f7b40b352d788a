"""A device that does not open at start (the touchscreen's RuntimeKeeper, Kivy-free, on the
real journal and sealing with simulated devices): the kiosk opens without it, turns citizens
away with the device's reason, lets an officer log in and copy the sealed records to a
stick, and takes citizens again once the device opens on a later try. A staff card reader
plugged in after start is opened by a later try too."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kiosk.app import CARD_RETRY_S, RUNTIME_RETRY_S, RuntimeKeeper
from kiosk.errors import DeviceNotFound, RefusalCategory
from kiosk.recovery import list_resumable
from kiosk.screens.flow import Flow
from tests.unit.screens.harness import (
    FakeClock,
    Kit,
    RecordingView,
    SyncExecutor,
)
from tests.unit.screens.test_flow_staff import PIN, STAFF, StaffKit


def _card(present: bool) -> str:
    """The simulated reader of the config, as the keeper opens it."""
    return (f'[hardware.card]\ntype = "sim"\npin = "{PIN}"\nstaff_id = "{STAFF}"\n'
            f"present = {str(present).lower()}\n")


class Unplugged:
    """What ``kiosk.runtime.create_device`` gives for a kind that is unplugged: a device
    whose open fails as a missing webcam's does."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def open(self) -> None:
        raise DeviceNotFound(f"/dev/{self.kind}0 does not exist: is it plugged in?")

    def close(self) -> None:
        pass


class Plugs:
    """Which device kinds are unplugged now (``out``; the test plugs one in by taking it
    out of the set), and how often the runtime tried to make each (``tries``)."""

    def __init__(self) -> None:
        self.out: set[str] = set()
        self.tries: Counter[str] = Counter()


@pytest.fixture
def plugs(monkeypatch: pytest.MonkeyPatch) -> Plugs:
    import kiosk.runtime

    real = kiosk.runtime.create_device
    plugs = Plugs()

    def create_device(kind: str, options: dict[str, Any]) -> Any:
        plugs.tries[kind] += 1
        return Unplugged(kind) if kind in plugs.out else real(kind, options)

    monkeypatch.setattr(kiosk.runtime, "create_device", create_device)
    return plugs


class KeeperKit(Kit):
    """The flow with its runtime opened by the app's RuntimeKeeper (not by the test), the
    card reader the config's. The app's first acceptance check is answered before the
    runtime opens (the app asks at the first frame): accepting."""

    def __init__(self, tmp_path: Path, body: str = "", *, card_in: bool = False,
                 **settings: Any) -> None:
        self.build(tmp_path, _card(card_in) + body, **settings)
        self.keeper = RuntimeKeeper(self.config, self.flow, self.executor)
        self.flow.set_acceptance(True, "", False)
        self.keeper.start()

    @property
    def runtime(self) -> Any:  # type: ignore[override]
        return self.keeper.runtime

    def check(self) -> None:
        """The app's acceptance check, every second: power and disk say yes."""
        self.flow.set_acceptance(True, "", False)

    def login(self) -> None:
        self.runtime.devices["card"].insert_card()
        self.executor.drain()
        assert self.flow.pin_entry
        for digit in PIN:
            self.flow.pin_key(digit)
        self.tap("pin_submit")
        assert self.flow.staff_id == STAFF, self.flow.pin_message.text("en")

    def close(self) -> None:
        self.flow.close()
        self.keeper.close()


def _day_one(tmp_path: Path, body: str) -> tuple[str, str]:
    """The first day of a village tour: a citizen enrolled (sealed), and an assisted
    enrollment left unfinished at the day's end. Their ids."""
    kit = StaffKit(tmp_path, body=body)
    try:
        kit.to("done", "id")
        sealed = kit.flow.receipt_id
        kit.tap("finish")
        kit.login()
        kit.tap("staff_start", "id")
        kit.tap("consent", True)
        unfinished = kit.flow.session.record_id
        kit.type_identity()
        kit.tap("submit_identity")
        assert kit.flow.screen == "demographics"
    finally:
        kit.close()  # the kiosk switched off with the enrollment unfinished
    return sealed, unfinished


def test_a_camera_dead_at_start_closes_to_citizens_but_the_officer_uses_the_stick(
        tmp_path: Path, plugs: Plugs, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.upload import usb

    stick = tmp_path / "stick"
    stick.mkdir()
    # A directory of the same disk taken for a stick (as test_flow_staff's stick test).
    real = usb.stick_problem
    monkeypatch.setattr(usb, "stick_problem",
                        lambda target, data_dir, local: real(target, data_dir, local=True))
    body = f'[usb]\nmount_point = "{stick}"\n'
    sealed, unfinished = _day_one(tmp_path, body)

    plugs.out.add("camera")  # day two: the camera's cable is loose
    kit = KeeperKit(tmp_path, body)
    try:
        flow, runtime = kit.flow, kit.runtime
        assert runtime is not None and "camera" not in runtime.devices
        assert {"fingerprint", "gpio", "card"} <= set(runtime.devices)
        # Closed at once (not at the next check): no citizen begins without a camera.
        assert flow.screen == "closed" and not flow.accepting
        assert flow.closed_category == RefusalCategory.DEVICE
        assert flow.closed_reason.startswith("camera device not ready: /dev/camera0")
        kit.check()
        assert flow.screen == "closed" and flow.closed_category == RefusalCategory.DEVICE
        flow.start("id")
        assert flow.screen == "closed" and flow.session is None

        # The officer logs in on the closed screen: the home says why, enrolls nobody.
        kit.login()
        assert flow.screen == "staff" and not flow.accepting
        assert flow.closed_category == RefusalCategory.DEVICE
        assert [r.record_id for r in flow.resumable] == [unfinished]
        kit.tap("staff_start", "id")
        kit.tap("staff_resume", unfinished)
        assert flow.screen == "staff" and flow.session is None
        kit.tap("usb_sync")
        assert [line.text("en") for line in flow.usb_lines] == [
            "Records copied to the stick: 1.",
            "You may remove the stick. Take it to the office."]
        assert runtime.journal.record(sealed).state == "exported"
        assert [p.suffix for p in stick.iterdir()] == [".ektp"]
        kit.tap("logout")
        assert flow.screen == "closed"

        # Tried again in the background; the journal is left open as it is.
        journal, tries = runtime.journal, plugs.tries["camera"]
        kit.executor.advance(RUNTIME_RETRY_S)
        assert plugs.tries["camera"] == tries + 1
        assert flow.screen == "closed" and kit.runtime is runtime
        plugs.out.clear()  # the cable pushed back in
        kit.executor.advance(RUNTIME_RETRY_S)
        assert kit.runtime is runtime and runtime.journal is journal
        assert "camera" in runtime.devices and not runtime.device_faults
        assert flow.screen == "welcome" and flow.accepting and flow.closed_category == ""
        kit.check()
        assert flow.screen == "welcome"
        kit.executor.advance(10 * RUNTIME_RETRY_S)
        assert plugs.tries["camera"] == tries + 2  # not tried once open
        kit.to("done", "en")  # a citizen, with the camera that came back
        assert runtime.journal.record(kit.flow.receipt_id).state == "sealed"
        assert [r.record_id for r in list_resumable(runtime.journal)] == [unfinished]
    finally:
        kit.close()


def test_without_the_sealing_keys_nothing_opens_and_no_officer_logs_in(
        tmp_path: Path, plugs: Plugs) -> None:
    missing = tmp_path / "missing" / "central.pub"
    plugs.out.add("camera")
    kit = KeeperKit(tmp_path, f'[sealing]\ncentral_key = "{missing}"\n')
    try:
        assert kit.runtime is None and kit.flow.runtime is None
        assert kit.flow.screen == "closed"
        assert kit.flow.closed_category == RefusalCategory.STARTUP
        assert kit.flow.closed_reason.startswith("sealing keys unusable")
        kit.executor.advance(RUNTIME_RETRY_S)  # the whole runtime is tried again
        assert kit.runtime is None and kit.flow.screen == "closed"
        assert kit.flow.closed_category == RefusalCategory.STARTUP
        assert plugs.tries["card"] == 0 and plugs.tries["camera"] == 0
        kit.executor.advance(CARD_RETRY_S)
        assert plugs.tries["card"] == 0
    finally:
        kit.close()


def test_a_card_reader_plugged_in_after_start_is_opened(
        tmp_path: Path, plugs: Plugs, caplog: pytest.LogCaptureFixture) -> None:
    plugs.out.add("card")
    caplog.set_level(logging.DEBUG, logger="kiosk.runtime")
    kit = KeeperKit(tmp_path)
    try:
        flow, runtime = kit.flow, kit.runtime
        assert "card" not in runtime.devices and plugs.tries["card"] == 1
        assert flow.screen == "welcome"  # citizens are taken without a reader
        kit.executor.advance(RUNTIME_RETRY_S)
        assert plugs.tries["card"] == 1  # not as often as a capture device
        for _ in range(3):
            kit.executor.advance(CARD_RETRY_S)
        assert plugs.tries["card"] == 4 and "card" not in runtime.devices
        warnings = [r for r in caplog.records
                    if r.levelno >= logging.WARNING and "card device" in r.getMessage()]
        assert len(warnings) == 1  # logged once, not at every try
        plugs.out.discard("card")  # the reader plugged in
        kit.executor.advance(CARD_RETRY_S)
        assert plugs.tries["card"] == 5 and "card" in runtime.devices
        assert any(r.getMessage() == "card device opened" for r in caplog.records)
        kit.executor.advance(10 * CARD_RETRY_S)
        assert plugs.tries["card"] == 5  # none is looked for while one is open
        kit.login()  # the reader's events reach the flow: the PIN pad, the card checked
        assert flow.screen == "staff"
        runtime.devices["card"].remove_card()
        kit.executor.drain()
        assert not flow.staff_id and flow.screen == "welcome"
    finally:
        kit.close()


def test_a_card_already_in_a_reader_plugged_in_late_opens_no_pin_pad(
        tmp_path: Path, plugs: Plugs) -> None:
    plugs.out.add("card")
    kit = KeeperKit(tmp_path, card_in=True)
    try:
        plugs.out.discard("card")
        kit.executor.advance(CARD_RETRY_S)
        reader = kit.runtime.devices["card"]
        assert reader.is_card_present and kit.flow.card_present
        assert not kit.flow.pin_entry
        reader.remove_card()
        reader.insert_card()
        kit.executor.drain()
        assert kit.flow.pin_entry  # taken out and put back: an officer at the kiosk
    finally:
        kit.close()


def test_the_restart_notice_is_not_shown_again_at_each_try_of_a_device() -> None:
    """The runtime is handed to the flow again at every try of a missing device: the
    welcome's notice of a recording deleted at start-up is said once, not every 10 s."""
    from types import SimpleNamespace

    clock = FakeClock()
    flow = Flow(SyncExecutor(clock), RecordingView(), clock=clock)
    runtime = SimpleNamespace(devices={}, recovery=SimpleNamespace(discarded=["r1"]))
    flow.set_acceptance(True, "", False)
    flow.set_runtime(runtime, "camera device not ready: gone", RefusalCategory.DEVICE)
    assert flow.notice and flow.screen == "closed"
    flow.touch()
    assert not flow.notice
    flow.set_runtime(runtime, "camera device not ready: still gone", RefusalCategory.DEVICE)
    assert not flow.notice and flow.closed_reason == "camera device not ready: still gone"
    flow.set_runtime(runtime)
    assert not flow.notice and flow.screen == "welcome" and flow.accepting


def test_a_sensor_lost_during_a_session_closes_to_the_next_citizen_until_it_answers(
        tmp_path: Path) -> None:
    """The real ZFM driver on the emulator: the line drops for good while a citizen's first
    finger is scanned. That citizen is told and may try again (or call an officer); once
    they stop, the closed screen says a device does not work, no one else begins (before,
    the next citizen was let in and met the same dead sensor at step 5 of 7), and the
    kiosk takes citizens again once the sensor, tried in the background, answers."""
    import time

    from kiosk.app import LOST_RETRY_S
    from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
    from kiosk.sealing import generate_central_keypair
    from tests.polling import wait_until

    generate_central_keypair(tmp_path / "central")
    with FingerprintEmulator(link=tmp_path / "fp0", seed=5) as emu:
        kit = KeeperKit(tmp_path, f'[sealing]\ncentral_key = "{tmp_path / "central"}'
                        f'/central.pub"\n[hardware.fingerprint]\ntype = "zfm"\n'
                        f'port = "{emu.port}"\ntimeout_s = 0.3\nreconnect_timeout_s = 0.3\n')
        try:
            flow = kit.flow
            assert flow.screen == "welcome" and flow.accepting
            kit.to("portrait", "en")
            emu.inject(disconnect=True)
            kit.through_portrait()  # the first finger's scan loses the line
            assert flow.screen == "fingerprints"
            assert flow.message.text("en").startswith("The fingerprint sensor is not working")
            kit.check()  # the app's check, a second later: the citizen stays where they are
            assert flow.screen == "fingerprints" and not flow.accepting
            assert flow.closed_category == RefusalCategory.DEVICE
            assert flow.closed_reason.startswith("fingerprint device lost: DeviceNotFound")
            kit.executor.advance(RUNTIME_RETRY_S)  # not tried again under the citizen
            assert flow.screen == "fingerprints" and flow.session is not None
            kit.tap("retry_finger")  # may still try (as before)
            assert flow.screen == "fingerprints" and flow.finger_tries == 2

            kit.tap("ask_cancel")
            kit.tap("answer_cancel", True)
            assert flow.screen == "closed" and flow.session is None
            flow.start("id")  # the next citizen: refused at once
            assert flow.screen == "closed" and flow.session is None
            kit.check()
            kit.executor.advance(LOST_RETRY_S)  # tried now: still no sensor
            assert flow.screen == "closed" and not flow.accepting
            assert flow.closed_reason.startswith("fingerprint device lost:")

            emu.plug_in()
            assert wait_until(lambda: emu.link is not None and emu.link.exists(), timeout=5)
            time.sleep(0.1)  # its power-up byte
            kit.executor.advance(RUNTIME_RETRY_S)
            assert not kit.runtime.device_faults
            assert flow.screen == "welcome" and flow.accepting and flow.closed_category == ""
            kit.check()
            kit.to("fingerprints", "en")  # the next citizen, on the sensor that came back
            assert flow.fingers_done == ["R1"], flow.message.text("en")
        finally:
            kit.close()
