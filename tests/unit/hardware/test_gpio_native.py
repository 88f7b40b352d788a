"""``[hardware.gpio] type = "native"`` where no pin factory loads (not a Pi, or a Pi without
lgpio): one clear line from the kiosk, never gpiozero's raw PinFactoryFallback warnings."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from gpiozero import Device as GpioDevice
from gpiozero.exc import PinWarning

from kiosk.cli import main
from kiosk.errors import DeviceNotFound
from kiosk.hardware.gpio import NativeKioskGpio
from tests.conftest import write_config


def _on_a_pi() -> bool:
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


@pytest.fixture
def no_pin_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    """gpiozero's default factories, none of which loads here; its choice not made yet."""
    if _on_a_pi():
        pytest.skip("on a Raspberry Pi gpiozero's native factory loads")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    for module in ("lgpio", "RPi", "RPi.GPIO", "pigpio"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails: as where not installed
    monkeypatch.setattr(GpioDevice, "pin_factory", None)


def test_native_gpio_that_cannot_load_says_so_without_gpiozeros_warnings(
        no_pin_factory: None) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(DeviceNotFound) as refused:
            NativeKioskGpio().open()
    assert [str(w.message) for w in seen if issubclass(w.category, PinWarning)] == []
    message = str(refused.value)
    assert message.startswith("GPIO not usable (BadPinFactory: "), message
    assert "; lgpio: " in message, message  # why the Pi's own factory did not load
    assert "install python3-lgpio" in message and 'type = "mock"' in message


def test_hw_selftest_with_native_gpio_off_a_pi_prints_its_line_and_no_warnings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_pin_factory: None) -> None:
    """It printed eight raw `PinFactoryFallback: Falling back from lgpio ...` lines (and
    their `warnings.warn(` source lines) before its own."""
    config = write_config(tmp_path, '[hardware.gpio]\ntype = "native"\n')
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = main(["hw", "selftest", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [str(w.message) for w in seen if issubclass(w.category, PinWarning)] == []
    assert "FAIL gpio         GPIO not usable (BadPinFactory" in out, out
    assert "PinFactoryFallback" not in out + err


def test_the_ups_power_fail_line_on_native_gpio_off_a_pi_says_so_without_warnings(
        no_pin_factory: None) -> None:
    """`[power] type = "gpio"` on gpiozero's default factory printed the same raw fallback
    warnings through its own DigitalInputDevice."""
    from kiosk.power.gpio_ups import GpioUps

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(DeviceNotFound) as refused:
            GpioUps(pin_factory="native", gauge="none").open()
    assert [str(w.message) for w in seen if issubclass(w.category, PinWarning)] == []
    assert "; lgpio: " in str(refused.value), refused.value
