"""The ``[power]`` section's options (all but ``type``), declared once beside the code that
reads them: :mod:`kiosk.config` checks the section with these, and the policy, the watcher and
the power-off plan take their defaults from here, so a driver never imports the config.
"""

from __future__ import annotations

from kiosk.options import Boolean, Integer, List, Number, Option, strings
from kiosk.power.nut import NutUps

OPTIONS: dict[str, Option] = {
    "host": NutUps.OPTIONS["host"],
    "port": NutUps.OPTIONS["port"],
    "ups": NutUps.OPTIONS["ups"],
    "shutdown_command": List(["systemctl", "poweroff"], strings,
                             allowed="a non-empty list of non-empty strings",
                             description="what `kiosk power watch` runs to shut down"),
    # On battery, stop taking new enrollments below these (one enrollment + margin).
    "min_battery_percent": Number(30, 0, 100, description=(
        "on battery, no new enrollments below this charge (one enrollment + margin)")),
    "min_runtime_s": Number(600, 0, 86400, description=(
        "on battery, no new enrollments below this much runtime left")),
    # On battery, shut down cleanly below these (or on the UPS's LB / FSD).
    "shutdown_battery_percent": Number(10, 0, 100, description=(
        "on battery, shut down cleanly below this charge (or on the UPS's LB / FSD)")),
    "shutdown_runtime_s": Number(120, 0, 86400, description=(
        "on battery, shut down cleanly below this much runtime left")),
    # `kiosk power watch`: how often to read the UPS; how long the mains must be gone
    # before it counts (a flicker is ignored).
    "poll_interval_s": Number(0.5, 0.1, 60, description="how often to read the UPS"),
    "debounce_s": Number(1.0, 0, 600, description=(
        "how long the mains must be gone before it counts (a flicker is ignored)")),
    # After a shutdown decided on battery, have the UPS cut its output and restore it
    # when the mains returns, so the kiosk boots by itself (kiosk/power/poweroff.py,
    # systemd/system-shutdown/kiosk-ups-poweroff; docs/power.md).
    "ups_poweroff": Boolean(True, description=(
        "after a shutdown decided on battery, the UPS cuts its output and restores it "
        "with the mains, so the kiosk boots by itself (docs/power.md)")),
    # The power race: when the mains returns during the shutdown, some UPSes keep their
    # output on and the kiosk would stay halted. > 0: the shutdown hook reboots if the
    # power is still on this many seconds after telling the UPS (longer than the UPS's
    # own off delay; systemd-shutdown waits at most 90 s for its hooks). 0: off.
    "ups_poweroff_wait_s": Integer(0, 0, 50, description=(
        "> 0: the shutdown hook reboots if the power is still on this many seconds "
        "after telling the UPS (the power race); 0: off")),
}
