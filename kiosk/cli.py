"""The ``kiosk`` command: the touchscreen, the demo and the maintainer tools.

Exit status: 0 done; 1 failed (the reason on stderr); 2 configuration or usage error;
3 the kiosk is not accepting enrollments (power, disk, journal, keys).
Machine-readable output (``--json``, ``enrolled <id>`` lines) goes to stdout; everything a
person should read about problems goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kiosk import __version__
from kiosk.config import Config, load_config
from kiosk.errors import ConfigError, KioskError, NotAccepting, StorageFull
from kiosk.logs import setup_logging

log = logging.getLogger("kiosk.cli")

EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_NOT_ACCEPTING = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand without --config keeps the one given before the verb (an
    # argparse default there would overwrite it with None).
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $KIOSK_CONFIG, then /etc/kiosk/kiosk.toml)")
    parser = argparse.ArgumentParser(prog="kiosk", parents=[common],
                                     description="e-KTP enrollment kiosk")
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", parents=[common], help="the touchscreen kiosk")
    demo = sub.add_parser("demo", parents=[common],
                          help="simulated citizens through the enrollment session, headless")
    demo.add_argument("--citizens", type=int, required=True, metavar="N")
    demo.add_argument("--seed", type=int, default=0, metavar="S")

    upload = sub.add_parser("upload", parents=[common],
                            help="send sealed records to the intake (docs/upload.md)")
    upload.add_argument("--once", action="store_true",
                        help="drain the outbox and exit: 0 all acknowledged, 1 some pending")

    status = sub.add_parser("status", parents=[common], help="what the kiosk is doing")
    status.add_argument("--json", action="store_true")
    doctor = sub.add_parser("doctor", parents=[common],
                            help="check everything; each line ok or the reason and its fix; "
                                 "exit 1 on any failure")
    doctor.add_argument("--json", action="store_true",
                        help="a list of {check, ok, detail, fix, status}")

    queue = sub.add_parser("queue", parents=[common], help="records waiting to be sent")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    qlist = queue_sub.add_parser("list", parents=[common], help="one line per record")
    qlist.add_argument("--json", action="store_true")
    qshow = queue_sub.add_parser(
        "show", parents=[common],
        help="one record's history (its state changes and errors; never its contents)")
    qshow.add_argument("id", metavar="ID", help="a record id (kiosk queue list)")
    qshow.add_argument("--json", action="store_true")
    qretry = queue_sub.add_parser(
        "retry", parents=[common],
        help="put rejected records back in the outbox (after the cause is fixed)")
    qretry.add_argument("ids", nargs="*", metavar="ID", help="record ids (kiosk queue list)")
    qretry.add_argument("--all", action="store_true", help="every rejected record")

    metrics = sub.add_parser(
        "metrics", parents=[common],
        help="the kiosk's state in Prometheus' text format (for node_exporter)")
    metrics.add_argument("--textfile", type=Path, metavar="DIR",
                         help="write DIR/kiosk.prom atomically (node_exporter's textfile "
                              "collector directory) instead of printing")
    metrics.add_argument("--hardware", action="store_true",
                         help="also run each device's self-test (not while the touchscreen "
                              "holds the devices)")

    journal = sub.add_parser("journal", parents=[common], help="the enrollment journal")
    journal_sub = journal.add_subparsers(dest="journal_command", required=True,
                                         metavar="ACTION")
    journal_sub.add_parser("check", parents=[common],
                           help="read every page and payload; exit 1 naming what is damaged")
    export = journal_sub.add_parser(
        "export", parents=[common],
        help="copy the metadata (states, steps, audit; no personal data) to a new SQLite file")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.db")

    config = sub.add_parser("config", parents=[common], help="check or show the configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_sub.add_parser("check", parents=[common], help="validate; exit 2 naming the bad key")
    config_sub.add_parser("show", parents=[common], help="the merged config, secrets masked")

    power = sub.add_parser("power", parents=[common], help="the UPS")
    power_sub = power.add_subparsers(dest="power_command", required=True, metavar="ACTION")
    power_sub.add_parser("watch", parents=[common],
                         help="the UPS watcher daemon: banner, stop accepting, clean shutdown")

    keys = sub.add_parser("keys", parents=[common], help="this kiosk's keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys_sub.add_parser("show", parents=[common],
                        help="the device public key to register with the intake")

    hw = sub.add_parser("hw", parents=[common], help="hardware maintenance tools")
    hw_sub = hw.add_subparsers(dest="hw_command", required=True, metavar="ACTION")
    hw_sub.add_parser("selftest", parents=[common], help="check every device; exit 1 on failure")
    fp = hw_sub.add_parser("fingerprint", parents=[common], help="the fingerprint sensor")
    fp_sub = fp.add_subparsers(dest="fp_command", required=True, metavar="ACTION")
    capture = fp_sub.add_parser("capture", parents=[common], help="capture one image to a PNG")
    capture.add_argument("--out", required=True, metavar="FILE.png")
    capture.add_argument("--timeout", type=float, default=10.0, metavar="S",
                         help="seconds to wait for a finger (default 10)")
    camera = hw_sub.add_parser("camera", parents=[common], help="the camera")
    camera_sub = camera.add_subparsers(dest="camera_command", required=True, metavar="ACTION")
    snapshot = camera_sub.add_parser("snapshot", parents=[common], help="one portrait JPEG")
    snapshot.add_argument("--out", required=True, metavar="FILE.jpg")
    card = hw_sub.add_parser("card", parents=[common], help="the smart-card reader")
    card_sub = card.add_subparsers(dest="card_command", required=True, metavar="ACTION")
    watch_cards = card_sub.add_parser("watch", parents=[common],
                                      help="print reader and card events until Ctrl-C")
    watch_cards.add_argument("--seconds", type=float, default=None, metavar="N",
                             help="stop after N seconds")
    gpio = hw_sub.add_parser("gpio", parents=[common], help="LED, buzzer, buttons, switches")
    gpio_sub = gpio.add_subparsers(dest="gpio_command", required=True, metavar="ACTION")
    gpio_test = gpio_sub.add_parser("test", parents=[common],
                                    help="cycle the outputs and read every input")
    gpio_test.add_argument("--interactive", action="store_true",
                           help="ask the maintainer to press, open and walk past the inputs")
    update = sub.add_parser(
        "update", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="install a new version beside this one, switch, check, switch back on failure",
        description="Install SOURCE as a new release beside the current one (update.root), "
                    "run the health checks\nfrom it, switch `current`, restart the services, "
                    "check again; any failure switches back\nby itself. It never opens the "
                    "journal or the keys. Exit 0 on the release asked for, 1 if\nnot (the "
                    "message says which release the kiosk is on and why).",
        epilog="examples:\n"
               "  sudo kiosk update /media/usb/ektp_kiosk-0.2.0-py3-none-any.whl --offline "
               "--find-links /media/usb/wheels\n"
               "  sudo kiosk update git+file:///srv/kiosk.git@v0.2.0\n"
               "  kiosk update --list\n"
               "  sudo kiosk update --rollback")
    update.add_argument("source", nargs="?", metavar="SOURCE",
                        help="a kiosk wheel file, or git+URL[@REF] (README: Updating a kiosk)")
    update.add_argument("--rollback", action="store_true",
                        help="go back to the previous release (checked like an update)")
    update.add_argument("--list", action="store_true", help="the releases; which is current")
    update.add_argument("--json", action="store_true", help="with --list: as JSON")
    update.add_argument("--find-links", action="append", metavar="DIR",
                        help="a wheelhouse (USB stick) for new dependencies; repeatable")
    update.add_argument("--offline", action="store_true",
                        help="never ask the package index (only DIR and what is installed)")
    update.add_argument("--root", metavar="DIR", help="releases root (default: update.root)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    if args.command == "doctor":  # a config that does not load is one of its findings
        from kiosk.doctor import doctor_command

        return doctor_command(args.config, as_json=args.json)
    # The subcommand's --config (after the verb) wins over the one before it.
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # $KIOSK_LOG_LEVEL lets a maintainer turn on DEBUG for one command without editing files.
    level = os.environ.get("KIOSK_LOG_LEVEL", config["kiosk"]["log_level"]).upper()
    setup_logging(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")
    handler = _COMMANDS[args.command]
    try:
        return handler(config, args)
    except NotAccepting as exc:
        print(f"kiosk: not accepting enrollments: {exc.reason}", file=sys.stderr)
        return EXIT_NOT_ACCEPTING
    except StorageFull as exc:
        print(f"kiosk: not accepting enrollments: disk full ({exc})", file=sys.stderr)
        return EXIT_NOT_ACCEPTING
    except ConfigError as exc:
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KioskError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except PermissionError as exc:
        print(f"kiosk: permission denied: {exc.filename} (run as the kiosk user, or set "
              "kiosk.data_dir to a writable directory)", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


# -- commands ------------------------------------------------------------------------------
def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from kiosk.app import run_app  # Kivy is imported only here

    return run_app(config)


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from kiosk.demo import run_demo

    if args.citizens < 0:
        print("kiosk demo: --citizens must be 0 or more", file=sys.stderr)
        return EXIT_CONFIG
    return run_demo(config, args.citizens, args.seed, sys.stdout)


def cmd_upload(config: Config, args: argparse.Namespace) -> int:
    from kiosk.upload.command import upload_command

    return upload_command(config, once=args.once, out=sys.stdout)


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from kiosk.status import collect_status, render_status

    status = collect_status(config)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        render_status(status)
    return EXIT_OK


def cmd_queue(config: Config, args: argparse.Namespace) -> int:
    from kiosk.status import queue_entries, render_queue

    if args.queue_command == "retry":
        return _queue_retry(config, args)
    if args.queue_command == "show":
        return _queue_show(config, args)
    entries = queue_entries(config)
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        render_queue(entries)
    return EXIT_OK


def _queue_show(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue show ID``: 0 with the record's history, 1 when there is no such record."""
    from kiosk.status import record_history, render_history

    history = record_history(config, args.id)
    if history is None:
        print(f"kiosk queue show: no record {args.id!r} in the journal (kiosk queue list "
              "names them)", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(history, indent=2))
    else:
        render_history(history)
    return EXIT_OK


def cmd_metrics(config: Config, args: argparse.Namespace) -> int:
    """``kiosk metrics [--textfile DIR] [--hardware]``: 0, or 1 naming a directory it
    cannot write."""
    from kiosk.metrics import render, write_textfile
    from kiosk.status import collect_status

    status = collect_status(config, hardware=args.hardware)
    if args.textfile is None:
        sys.stdout.write(render(status).decode())
        return EXIT_OK
    if not args.textfile.is_dir():
        print(f"kiosk metrics: {args.textfile} is not a directory (node_exporter's "
              "--collector.textfile.directory)", file=sys.stderr)
        return EXIT_FAIL
    try:
        write_textfile(status, args.textfile)
    except OSError as exc:
        print(f"kiosk metrics: cannot write {args.textfile}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _queue_retry(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue retry ID... | --all``: rejected -> sealed; 0, or 1 naming what was not
    requeued (unknown id, not rejected), or 2 for a usage mistake."""
    from kiosk.errors import IllegalStateChange, JournalError
    from kiosk.runtime import open_journal

    if bool(args.ids) == bool(args.all):
        print("kiosk queue retry: name the record ids, or --all", file=sys.stderr)
        return EXIT_CONFIG
    problems = 0
    with open_journal(config, owner=False) as journal:
        ids = [r.id for r in journal.records("rejected")] if args.all else args.ids
        if not ids:
            print("no rejected records")
        for record_id in ids:
            try:
                journal.requeue(record_id, "kiosk queue retry")
            except (IllegalStateChange, JournalError) as exc:
                print(f"kiosk queue retry: {exc}", file=sys.stderr)
                problems += 1
                continue
            print(f"requeued {record_id}")
    return 1 if problems else EXIT_OK


def cmd_journal(config: Config, args: argparse.Namespace) -> int:
    """``kiosk journal check``: the deep check the start-up one leaves out (it skips the
    payload pages); read-only, safe while the kiosk runs. Run it from a timer, or when an
    upload reports a damaged payload."""
    from kiosk.journal import Journal

    if args.journal_command == "export":
        return _journal_export(config, args)
    with Journal.open_readonly(config.data_dir / "journal.db") as journal:
        problems = journal.verify()
        counts = journal.counts()
    for problem in problems:
        print(f"kiosk journal check: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAIL
    print(f"journal ok: {sum(counts.values())} records, every page and payload read")
    return EXIT_OK


def _journal_export(config: Config, args: argparse.Namespace) -> int:
    """``kiosk journal export --out FILE.db``: 0 with the rows written, 1 when there is no
    journal or FILE.db exists (never overwritten)."""
    from kiosk.journal import Journal

    out: Path = args.out
    if out.exists():
        print(f"kiosk journal export: {out} exists; choose another name (it is never "
              "overwritten)", file=sys.stderr)
        return EXIT_FAIL
    if not out.parent.is_dir():
        print(f"kiosk journal export: no directory {out.parent}", file=sys.stderr)
        return EXIT_FAIL
    with Journal.open_readonly(config.data_dir / "journal.db") as journal:
        counts = journal.export_metadata(out, kiosk_id=config.kiosk_id)
    print(f"wrote {out}: {counts['records']} records, {counts['steps']} steps, "
          f"{counts['audit']} audit events (no payloads, no personal data). Open it with "
          f"`sqlite-utils tables {out} --counts` or the sqlite3 shell.")
    return EXIT_OK


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    if args.config_command == "check":
        from kiosk.config import check_all

        check_all(config)
        sources = ", ".join(map(str, config.sources)) or "packaged defaults only"
        print(f"configuration ok ({sources})")
        return EXIT_OK
    print(_to_toml(config.as_dict(mask_secrets=True)), end="")
    return EXIT_OK


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
        from kiosk.maintenance.card import watch_command

        return watch_command(config, args.seconds)
    from kiosk.status import hardware_selftest

    results = hardware_selftest(config)
    width = max(map(len, results))
    for name, result in results.items():
        mark = "ok  " if result["ok"] else "held" if result.get("held") else "FAIL"
        print(f"{mark} {name:<{width}}  {result['detail']}")
    held = [name for name, r in results.items() if r.get("held")]
    if held:
        # The running touchscreen holds its devices: that is not a fault, and not a test.
        print(f"not tested, held by another program (the running kiosk?): {', '.join(held)}."
              " To test them: `sudo systemctl stop kiosk-ui`, `kiosk hw selftest`, then "
              "`sudo systemctl start kiosk-ui`")
    return EXIT_OK if all(r["ok"] or r.get("held") for r in results.values()) else EXIT_FAIL


def cmd_power(config: Config, args: argparse.Namespace) -> int:
    import signal
    import threading

    from kiosk.fsutil import make_dirs
    from kiosk.hardware.registry import create_device
    from kiosk.power.policy import Thresholds
    from kiosk.power.poweroff import flag_path
    from kiosk.power.poweroff import plan as plan_poweroff
    from kiosk.power.watcher import STATE_FILE, watch
    from kiosk.runtime import open_journal
    from kiosk.service import Notifier

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    section = config["power"]
    make_dirs(config.data_dir)
    poweroff = plan_poweroff(section)
    with create_device("power", config.backend_options("power")) as ups:
        log.info("power watcher started (%s UPS)", section["type"])
        return watch(ups.read, thresholds=Thresholds.from_config(section),
                     state_path=config.data_dir / STATE_FILE,
                     journal_factory=lambda: open_journal(config, owner=False),
                     shutdown_command=section["shutdown_command"],
                     poll_interval_s=section["poll_interval_s"], stop=stop,
                     notifier=Notifier(), poweroff_flag=flag_path(config.data_dir),
                     poweroff=poweroff)


def cmd_update(config: Config, args: argparse.Namespace) -> int:
    from kiosk.update import update_command

    return update_command(config, args)


def cmd_keys(config: Config, args: argparse.Namespace) -> int:
    from kiosk.runtime import ensure_dev_central_key
    from kiosk.sealing import DeviceKey, key_id, load_central_public_key

    device = DeviceKey.load_or_create(config.device_key_path)
    ensure_dev_central_key(config)
    central = load_central_public_key(config.central_key_path)
    print(f"kiosk id:        {config.kiosk_id}")
    print(f"device key:      {device.public_bytes.hex()}")
    print(f"device key id:   {device.key_id}")
    print(f"central key id:  {key_id(central)}"
          + ("  (development key)" if config.uses_dev_central_key else ""))
    print("register with:   kiosk-intake register --data DIR "
          f"--kiosk {config.kiosk_id} --key {device.public_bytes.hex()}")
    return EXIT_OK


_COMMANDS = {"run": cmd_run, "demo": cmd_demo, "upload": cmd_upload, "status": cmd_status,
             "queue": cmd_queue, "journal": cmd_journal, "config": cmd_config,
             "metrics": cmd_metrics,
             "power": cmd_power, "keys": cmd_keys, "hw": cmd_hw, "update": cmd_update}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _to_toml(data: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    sys.exit(main())
