"""KioskGpio on gpiozero's MockFactory: what only mock pins show (their start levels, pin
options, polarity, no PIR). Tests drive the pins like the wires would. What every pin
factory shares (LED patterns, beeps, inputs, self-test) is asserted once, in
``tests/contract/test_gpio.py``."""

from __future__ import annotations

import pytest

from kiosk.errors import DeviceError
from kiosk.hardware.gpio import MockKioskGpio
from kiosk.hardware.registry import create_device
from tests.polling import wait_until


@pytest.fixture
def gpio():
    device = create_device("gpio", {"type": "mock"})
    with device:
        yield device


def test_mock_gpio_uses_a_private_mock_factory(gpio):
    from gpiozero import Device as GpioDevice
    from gpiozero.pins.mock import MockFactory

    assert isinstance(gpio.pin_factory, MockFactory)
    assert gpio.pin_factory is not GpioDevice.pin_factory


def test_mock_gpio_opens_at_rest_with_nothing_driving_its_pins(gpio):
    # The contract suite's rig drives every input to rest first; a MockKioskGpio on its
    # own starts there: lid closed, mains present, help button up.
    assert not gpio.is_tampered
    assert not gpio.is_mains_lost
    assert not gpio.is_help_pressed


@pytest.mark.parametrize(("active_high", "lost_level"), [(True, "high"), (False, "low")])
def test_power_fail_polarity(active_high, lost_level):
    events: list[str] = []
    with MockKioskGpio(power_fail_active_high=active_high) as gpio:
        assert not gpio.is_mains_lost
        gpio.when_mains_lost = lambda: events.append("lost")
        gpio.when_mains_restored = lambda: events.append("restored")
        pin = gpio.pin_factory.pin(24)
        lose, restore = ((pin.drive_high, pin.drive_low) if lost_level == "high"
                         else (pin.drive_low, pin.drive_high))
        lose()
        assert gpio.is_mains_lost
        restore()
        assert not gpio.is_mains_lost
        assert wait_until(lambda: events == ["lost", "restored"], timeout=2.0)


def test_pins_come_from_options():
    with create_device("gpio", {"type": "mock", "led_pin": 5, "help_pin": 6,
                                "pir_pin": 26}) as gpio:
        gpio.show_ready()
        assert gpio.pin_factory.pin(5).state is True
        assert gpio.pin_factory.pin(17).state is False  # the default pin is not used
        gpio.pin_factory.pin(26).drive_high()
        assert gpio.is_motion_detected


def test_two_kiosk_gpios_do_not_share_mock_pins():
    with MockKioskGpio() as one, MockKioskGpio() as two:
        one.show_ready()
        assert two.pin_factory.pin(17).state is False


# -- PIR wake sensor and blocking waits ------------------------------------------------------
def test_without_pir_motion_callbacks_say_how_to_configure_one(gpio):
    assert not gpio.has_motion_sensor
    assert not gpio.is_motion_detected
    assert not gpio.wait_for_motion(timeout=0.01)
    gpio.when_motion = None  # clearing is always fine
    with pytest.raises(DeviceError, match=r"hardware\.gpio\.pir_pin"):
        gpio.when_motion = lambda: None


def test_pir_pin_clash_is_a_config_error():
    from kiosk.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        create_device("gpio", {"type": "mock", "pir_pin": 17})
    assert info.value.key == "hardware.gpio.pir_pin"


