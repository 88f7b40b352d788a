"""The UPS: where power comes from, how much is left.

Backends by ``[power] type``: ``sim`` (:class:`SimPower`), ``nut``
(:class:`kiosk.power.nut.NutUps`, a client of NUT's upsd) and ``gpio``
(:class:`kiosk.power.gpio_ups.GpioUps`, a UPS HAT's power-fail line plus an I2C fuel gauge).
Only the base and the simulator are imported here, so ``import kiosk.power`` needs neither
a network nor smbus2.
"""

from kiosk.power.base import PowerSource, PowerStatus, SimPower, Source, describe

__all__ = ["PowerSource", "PowerStatus", "SimPower", "Source", "describe"]
