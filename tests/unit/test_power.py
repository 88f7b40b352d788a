"""The power source base and the simulated UPS. What every power backend does is checked
once, in ``tests/contract/test_power.py``."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.devices import create_device
from kiosk.power import PowerSource, PowerStatus, SimPower


def test_sim_power_from_config_options():
    with create_device("power", {"type": "sim", "source": "battery", "battery_percent": 42,
                                 "runtime_s": 900, "low_battery": True}) as ups:
        assert isinstance(ups, PowerSource)
        assert ups.read() == PowerStatus("battery", 42.0, 900.0, low_battery=True)


def test_sim_power_set_changes_the_reading():
    with SimPower() as ups:
        assert ups.set(source="battery", battery_percent=12.5).source == "battery"
        status = ups.read()
    assert (status.source, status.battery_percent, status.low_battery) == ("battery", 12.5,
                                                                           False)


def test_sim_power_set_validates():
    with SimPower() as ups, pytest.raises(ValueError):
        ups.set(battery_percent=101.0)
    with SimPower() as ups, pytest.raises(TypeError):
        ups.set(voltage=12.0)


def test_power_status_is_frozen():
    status = PowerStatus("mains", None, None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.source = "battery"  # type: ignore[misc]


@pytest.mark.parametrize("kwargs", [
    {"source": "solar", "battery_percent": 50.0, "runtime_s": 1.0, "low_battery": False},
    {"source": "battery", "battery_percent": -1.0, "runtime_s": 1.0, "low_battery": False},
    {"source": "battery", "battery_percent": 50.0, "runtime_s": -5.0, "low_battery": False},
])
def test_power_status_rejects_impossible_readings(kwargs):
    with pytest.raises(ValueError):
        PowerStatus(**kwargs)


def test_sim_power_selftest_fails_on_an_unknown_source():
    # The sim can be told "unknown" (a GPIO HAT never is); the self-test on mains and on a
    # low battery is checked on every backend by tests/contract/test_power.py.
    ups = SimPower()
    ups.set(source="unknown", battery_percent=None, runtime_s=None)
    ok, detail = ups.selftest()
    assert ok is False
    assert "unknown" in detail
