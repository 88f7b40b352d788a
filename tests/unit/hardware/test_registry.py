"""The registry: config names -> backends, fail fast with the key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.devices import (
    BACKENDS,
    KINDS,
    backend_names,
    check_options,
    create_device,
    get_backend_class,
    section_of,
)
from kiosk.errors import ConfigError
from kiosk.hardware.base import Device
from kiosk.hardware.camera.sim import SimCamera
from kiosk.hardware.card.sim import SimCardReader
from kiosk.hardware.fingerprint.sim import SimFingerprint
from kiosk.hardware.gpio import MockKioskGpio, NativeKioskGpio
from kiosk.power import SimPower

KNOWN = [
    ("fingerprint", "sim", SimFingerprint),
    ("camera", "sim", SimCamera),
    ("card", "sim", SimCardReader),
    ("gpio", "mock", MockKioskGpio),
    ("gpio", "native", NativeKioskGpio),
    ("power", "sim", SimPower),
]


@pytest.mark.parametrize(("kind", "name", "cls"), KNOWN)
def test_registry_maps_config_name_to_backend_class(kind, name, cls):
    assert get_backend_class(kind, name) is cls
    assert name in backend_names(kind)


def test_registry_lists_exactly_the_backends_that_exist_now():
    assert {kind: backend_names(kind) for kind in BACKENDS} == {
        "fingerprint": ["sim", "zfm"], "camera": ["picamera2", "sim", "v4l2"],
        "card": ["pcsc", "sim"], "gpio": ["mock", "native"], "power": ["gpio", "nut", "sim"]}


@pytest.mark.parametrize(("kind", "name", "key"), [
    ("fingerprint", "zfm9000", "hardware.fingerprint.type"),
    ("camera", "webcam", "hardware.camera.type"),
    ("card", "", "hardware.card.type"),
    ("gpio", "sim", "hardware.gpio.type"),
    ("power", "apcupsd", "power.type"),
])
def test_registry_rejects_unknown_backend_naming_key_value_and_allowed(kind, name, key):
    with pytest.raises(ConfigError) as info:
        get_backend_class(kind, name)
    assert info.value.key == key
    assert info.value.value == name
    for allowed in backend_names(kind):
        assert repr(allowed) in info.value.allowed
    assert key in str(info.value)


def test_registry_rejects_unknown_kind():
    with pytest.raises(ConfigError) as info:
        backend_names("scanner")
    assert "fingerprint" in info.value.allowed


def test_create_device_without_type_names_the_type_key():
    with pytest.raises(ConfigError) as info:
        create_device("camera", {"seed": 1})
    assert info.value.key == "hardware.camera.type"


@pytest.mark.parametrize(("kind", "options", "key"), [
    ("fingerprint", {"type": "sim", "port": "/dev/ttyAMA0"}, "hardware.fingerprint.port"),
    ("camera", {"type": "sim", "resolution": "4k"}, "hardware.camera.resolution"),
    ("card", {"type": "sim", "reader": "ACS"}, "hardware.card.reader"),
    ("gpio", {"type": "mock", "led": 17}, "hardware.gpio.led"),
    ("power", {"type": "sim", "host": "127.0.0.1"}, "power.host"),
])
def test_create_device_rejects_unknown_option_naming_the_key(kind, options, key):
    with pytest.raises(ConfigError) as info:
        create_device(kind, options)
    assert info.value.key == key
    assert "known options" in info.value.allowed


@pytest.mark.parametrize(("kind", "options", "key"), [
    ("fingerprint", {"type": "sim", "seed": "7"}, "hardware.fingerprint.seed"),
    ("fingerprint", {"type": "sim", "seed": True}, "hardware.fingerprint.seed"),
    ("fingerprint", {"type": "sim", "no_finger": 1}, "hardware.fingerprint.no_finger"),
    ("camera", {"type": "sim", "capture_delay_s": "1s"}, "hardware.camera.capture_delay_s"),
    ("card", {"type": "sim", "pin": 123456}, "hardware.card.pin"),
    ("gpio", {"type": "mock", "led_pin": 17.0}, "hardware.gpio.led_pin"),
    ("power", {"type": "sim", "battery_percent": "full"}, "power.battery_percent"),
    ("power", {"type": "sim", "low_battery": "no"}, "power.low_battery"),
])
def test_create_device_rejects_wrong_option_type_naming_the_key(kind, options, key):
    with pytest.raises(ConfigError) as info:
        create_device(kind, options)
    assert info.value.key == key


@pytest.mark.parametrize(("kind", "options", "key"), [
    ("fingerprint", {"type": "sim", "fail_every": -1}, "hardware.fingerprint.fail_every"),
    ("camera", {"type": "sim", "fail_every": -2}, "hardware.camera.fail_every"),
    ("card", {"type": "sim", "pin": "12ab"}, "hardware.card.pin"),
    ("card", {"type": "sim", "staff_id": "X" * 17}, "hardware.card.staff_id"),
    ("card", {"type": "sim", "pin_retries": 16}, "hardware.card.pin_retries"),
    ("gpio", {"type": "mock", "led_pin": 40}, "hardware.gpio.led_pin"),
    ("gpio", {"type": "mock", "buzzer_pin": 17}, "hardware.gpio.buzzer_pin"),
    ("power", {"type": "sim", "source": "solar"}, "power.source"),
    ("power", {"type": "sim", "battery_percent": 120}, "power.battery_percent"),
    # the real backends (created closed: no vendor library, no hardware needed)
    ("power", {"type": "nut", "ups": "my ups"}, "power.ups"),
    ("power", {"type": "nut", "ups": "ups@host"}, "power.ups"),
    ("power", {"type": "nut", "port": 0}, "power.port"),
    ("power", {"type": "nut", "host": ""}, "power.host"),
    ("power", {"type": "nut", "timeout": 0}, "power.timeout"),
    ("power", {"type": "gpio", "power_fail_pin": 40}, "power.power_fail_pin"),
    ("power", {"type": "gpio", "gauge": "bq27441"}, "power.gauge"),
    ("power", {"type": "gpio", "i2c_address": 0x80}, "power.i2c_address"),
    ("power", {"type": "gpio", "full_voltage": 3.0, "empty_voltage": 3.3}, "power.full_voltage"),
    ("power", {"type": "gpio", "pin_factory": "pigpio"}, "power.pin_factory"),
    ("power", {"type": "gpio", "low_battery_percent": 120}, "power.low_battery_percent"),
    ("camera", {"type": "picamera2", "still_width": 480, "still_height": 480},
     "hardware.camera.still_height"),
    ("camera", {"type": "picamera2", "still_width": 481, "still_height": 640},
     "hardware.camera.still_width"),
    ("camera", {"type": "picamera2", "rotation": 45}, "hardware.camera.rotation"),
    ("camera", {"type": "picamera2", "timeout_s": 0}, "hardware.camera.timeout_s"),
    ("camera", {"type": "picamera2", "jpeg_quality": 0}, "hardware.camera.jpeg_quality"),
    ("camera", {"type": "picamera2", "camera_num": -1}, "hardware.camera.camera_num"),
    ("camera", {"type": "v4l2", "fps": 0}, "hardware.camera.fps"),
    ("camera", {"type": "v4l2", "fourcc": "MJPEG"}, "hardware.camera.fourcc"),
    ("camera", {"type": "v4l2", "device": -1}, "hardware.camera.device"),
    ("camera", {"type": "v4l2", "width": 641}, "hardware.camera.width"),
    ("camera", {"type": "v4l2", "still_width": 480, "still_height": 600},
     "hardware.camera.still_height"),
    ("camera", {"type": "v4l2", "rotation": 30}, "hardware.camera.rotation"),
])
def test_backends_reject_out_of_range_values_naming_the_key(kind, options, key):
    with pytest.raises(ConfigError) as info:
        create_device(kind, options)
    assert info.value.key == key


def test_card_pin_is_never_echoed_in_errors():
    with pytest.raises(ConfigError) as info:
        create_device("card", {"type": "sim", "pin": "98765x"})
    assert "98765x" not in str(info.value)


def test_create_device_passes_options_and_returns_a_closed_device():
    device = create_device("fingerprint", {"type": "sim", "seed": 9, "fail_every": 4})
    assert isinstance(device, SimFingerprint)
    assert (device.seed, device.fail_every) == (9, 4)
    assert device.closed


def test_integer_is_accepted_where_a_number_is_expected():
    # TOML writes `battery_percent = 50` as an integer.
    device = create_device("power", {"type": "sim", "battery_percent": 50})
    with device:
        assert device.read().battery_percent == 50.0


def test_check_options_validates_without_creating():
    cls, kwargs = check_options("card", {"type": "sim", "staff_id": "STAFF-0009"})
    assert cls is SimCardReader
    assert kwargs == {"staff_id": "STAFF-0009"}


@pytest.mark.parametrize(("kind", "name", "cls"), KNOWN)
def test_every_backend_declares_options_matching_its_constructor(kind, name, cls):
    import inspect

    params = inspect.signature(cls.__init__).parameters
    assert issubclass(cls, Device)
    for option in cls.OPTIONS:
        assert option in params, f"{cls.__name__}.OPTIONS has {option} but __init__ does not"


def test_sims_and_registry_import_without_vendor_libraries():
    # In a fresh interpreter: other tests (real-backend ones) may import these here.
    code = (
        "import sys\n"
        "from kiosk.devices import BACKENDS, create_device, get_backend_class\n"
        "for kind, names in BACKENDS.items():\n"
        "    for name in names:\n"
        "        get_backend_class(kind, name)  # every backend module imports bare\n"
        "        if name in ('sim', 'mock'):\n"
        "            create_device(kind, {'type': name}).selftest()\n"
        "print(sorted(m for m in ('picamera2', 'smartcard', 'serial', 'lgpio')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[3])
    assert result.stdout.strip() == "[]"


def test_each_driver_layer_keeps_its_own_table_and_devices_joins_them():
    from kiosk import devices
    from kiosk.hardware import registry as hardware
    from kiosk.power import registry as power

    assert hardware.HARDWARE_KINDS == ("fingerprint", "camera", "card", "gpio")
    assert set(hardware.BACKENDS) == set(hardware.HARDWARE_KINDS)  # no UPS in the hardware's
    assert set(power.BACKENDS) == {"power"}
    assert devices.KINDS[:-1] == hardware.HARDWARE_KINDS
    assert devices.KINDS[-1] == "power"
    assert BACKENDS == hardware.BACKENDS | power.BACKENDS
    assert [devices.section_of(kind) for kind in devices.KINDS] == [
        "hardware.fingerprint", "hardware.camera", "hardware.card", "hardware.gpio", "power"]
    with pytest.raises(ConfigError) as info:  # the hardware's lookup knows no UPS
        hardware.create_device("power", {"type": "sim"})
    assert "'power'" not in info.value.allowed
    assert power.POWER.get_backend_class("power", "sim") is SimPower


def test_a_kind_in_two_tables_is_refused():
    from kiosk.hardware.registry import HARDWARE, Registry

    with pytest.raises(ValueError, match="camera"):
        HARDWARE | Registry({"camera": {}}, {"camera": "hardware.camera"})
    with pytest.raises(ValueError, match="sections"):
        Registry({"camera": {}}, {})


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind in KINDS
                                            for name in backend_names(kind)])
def test_every_backend_names_its_keys_in_its_kinds_config_section(kind, name):
    """A backend's constructor names a bad value's key under its class's ``SECTION``; the
    registry names it under the kind's section: the two must be one section."""
    assert section_of(kind) == get_backend_class(kind, name).SECTION
