"""The ``[power]`` section's backends: config name -> ``"module:Class"``, all in this package.

The power layer keeps its own table, as the hardware keeps its own in
:mod:`kiosk.hardware.registry`, and looks backends up with the same code (a
:class:`~kiosk.hardware.registry.Registry`): a lower layer never names a module of a higher
one. :mod:`kiosk.devices` joins both tables for the config and the runtime. Example::

    with POWER.create_device("power", {"type": "sim"}) as ups:
        status = ups.read()
"""

from __future__ import annotations

from kiosk.hardware.registry import Registry

__all__ = ["BACKENDS", "POWER"]

#: The UPS backends by ``[power] type``.
BACKENDS: dict[str, dict[str, str]] = {
    "power": {
        "sim": "kiosk.power:SimPower",
        "nut": "kiosk.power.nut:NutUps",
        "gpio": "kiosk.power.gpio_ups:GpioUps",
    },
}
POWER = Registry(BACKENDS, {"power": "power"})
