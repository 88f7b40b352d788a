"""``kiosk hw selftest/fingerprint/camera/card/gpio`` and ``kiosk power watch``: the
devices and the UPS. The per-device tools are :mod:`kiosk.maintenance`'s."""

from __future__ import annotations

import argparse
import logging
import sys

from kiosk.config import Config
from kiosk.core.exits import EXIT_FAIL, EXIT_OK

# The watcher's lines have always carried the command's logger name (journald filters).
log = logging.getLogger("kiosk.cli")


def cmd_hw(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.hw_command == "fingerprint":
        from kiosk.maintenance.fingerprint import capture_command

        return capture_command(config, Path(args.out), args.timeout)
    if args.hw_command == "camera":
        from kiosk.maintenance.camera import snapshot_command

        return snapshot_command(config, Path(args.out))
    if args.hw_command == "gpio":
        from kiosk.maintenance.gpio import gpio_test_command

        return gpio_test_command(config, interactive=args.interactive)
    if args.hw_command == "card":
        from kiosk.maintenance import card

        if args.card_command == "chuid":
            return card.chuid_command(args.staff_id, Path(args.out) if args.out else None)
        if args.card_command == "check":
            pin = sys.stdin.readline().strip() if args.pin_stdin else None
            return card.check_command(config, pin=pin)
        return card.watch_command(config, args.seconds)
    from kiosk.status import START_THE_KIOSK, STOP_THE_KIOSK, hardware_selftest

    results = hardware_selftest(config)
    width = max(map(len, results))
    for name, result in results.items():
        mark = "ok  " if result["ok"] else "held" if result.get("held") else "FAIL"
        print(f"{mark} {name:<{width}}  {result['detail']}")
    held = [name for name, r in results.items() if r.get("held")]
    if held:
        # The running touchscreen holds its devices: that is not a fault, and not a test.
        print(f"not tested, held by another program (the running kiosk?): {', '.join(held)}."
              f" To test them: {STOP_THE_KIOSK}, `kiosk hw selftest`, then {START_THE_KIOSK}")
    return EXIT_OK if all(r["ok"] or r.get("held") for r in results.values()) else EXIT_FAIL


def cmd_power(config: Config, args: argparse.Namespace) -> int:
    import signal
    import threading

    from kiosk.devices import create_device
    from kiosk.fsutil import make_dirs
    from kiosk.power.policy import Thresholds
    from kiosk.power.poweroff import flag_path
    from kiosk.power.poweroff import plan as plan_poweroff
    from kiosk.power.watcher import STATE_FILE, watch
    from kiosk.runtime import open_journal
    from kiosk.service import Notifier

    stop = threading.Event()
    stopped_by: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    section = config["power"]
    make_dirs(config.data_dir)
    poweroff = plan_poweroff(section)
    with create_device("power", config.backend_options("power")) as ups:
        log.info("power watcher started (%s UPS)", section["type"])
        status = watch(ups.read, thresholds=Thresholds.from_config(section),
                       state_path=config.data_dir / STATE_FILE,
                       journal_factory=lambda: open_journal(config, owner=False),
                       shutdown_command=section["shutdown_command"],
                       poll_interval_s=section["poll_interval_s"], stop=stop,
                       notifier=Notifier(), poweroff_flag=flag_path(config.data_dir),
                       poweroff=poweroff)
    if stopped_by:  # a daemon asked to stop (systemctl stop, Ctrl-C): a clean end, 0
        log.info("power watcher stopped (%s)", stopped_by[0])
    return status
