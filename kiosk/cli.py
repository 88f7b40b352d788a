"""The ``kiosk`` command: the touchscreen, the demo and the maintainer tools. This module
owns the argument parser, the table from verb to function and the mapping of errors to exit
statuses; the verbs' functions are :mod:`kiosk.commands`'.

Exit status (:mod:`kiosk.core.exits`): 0 done; 1 failed (the reason on stderr); 2
configuration or usage error; 3 the kiosk is not accepting enrollments (power, disk,
journal, keys); 130 interrupted (Ctrl-C); 143 ``kiosk demo`` stopped by SIGTERM.
Machine-readable output (``--json``, ``enrolled <id>`` lines) goes to stdout; everything a
person should read about problems goes to stderr.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kiosk import __version__
from kiosk.commands.devices import cmd_hw, cmd_power
from kiosk.commands.enroll import cmd_demo, cmd_run, cmd_upload
from kiosk.commands.records import cmd_journal, cmd_metrics, cmd_queue, cmd_status
from kiosk.commands.setup import cmd_config, cmd_keys, cmd_update
from kiosk.config import Config, load_config
from kiosk.core.exits import (
    EXIT_CONFIG,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_NOT_ACCEPTING,
    EXIT_TERMINATED,
    Terminated,
    exit_reader_gone,
)
from kiosk.errors import ConfigError, KioskError, NotAccepting, StorageFull
from kiosk.hardware.fingerprint.base import CAPTURE_TIMEOUT_S
from kiosk.logs import setup_logging

_COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "run": cmd_run, "demo": cmd_demo, "upload": cmd_upload, "status": cmd_status,
    "queue": cmd_queue, "journal": cmd_journal, "config": cmd_config,
    "metrics": cmd_metrics,
    "power": cmd_power, "keys": cmd_keys, "hw": cmd_hw, "update": cmd_update}

# What a verb stopped by Ctrl-C or SIGTERM leaves behind, for the line that says so.
_STOPPED: collections.defaultdict[str, str] = collections.defaultdict(str, {
    "demo": "; each record printed is sealed, any citizen in progress was discarded",
})


def _seconds(text: str) -> float:
    """A wait given on the command line: a finite number of seconds above 0 (``nan`` waited
    for ever, ``-1`` reported 'nothing within -1 s')."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


def _whole_number(text: str, *, signed: bool = False) -> int:
    """A count or seed given on the command line, in ASCII digits (``int()`` also takes
    ``٣``, ``3_000`` and `` 3``, which a maintainer did not mean to type)."""
    digits = text[1:] if signed and text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a whole number{'' if signed else ' (0 or more)'} in digits 0-9")
    return int(text)


def _seed(text: str) -> int:
    return _whole_number(text, signed=True)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand without --config keeps the one given before the verb (an
    # argparse default there would overwrite it with None).
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file, laid over /etc/kiosk/kiosk.toml (default: "
                             "$KIOSK_CONFIG, if set)")
    parser = argparse.ArgumentParser(prog="kiosk", parents=[common],
                                     description="e-KTP enrollment kiosk")
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", parents=[common], help="the touchscreen kiosk")
    demo = sub.add_parser("demo", parents=[common],
                          help="simulated citizens through the enrollment session, headless")
    demo.add_argument("--citizens", type=_whole_number, required=True, metavar="N",
                      help="how many simulated citizens to enroll (each a sealed record in "
                           "the journal)")
    demo.add_argument("--seed", type=_seed, default=0, metavar="S",
                      help="the simulated citizens' seed: the same seed, the same citizens "
                           "(default %(default)s)")

    upload = sub.add_parser("upload", parents=[common],
                            help="send sealed records to the intake (docs/upload.md)")
    upload.add_argument("--once", action="store_true",
                        help="drain the outbox and exit: 0 all acknowledged, 1 some pending")

    status = sub.add_parser("status", parents=[common], help="what the kiosk is doing")
    status.add_argument("--json", action="store_true", help="one JSON object")
    doctor = sub.add_parser("doctor", parents=[common],
                            help="check everything; each line ok or the reason and its fix; "
                                 "exit 1 on any failure")
    doctor.add_argument("--json", action="store_true",
                        help="a list of {check, ok, detail, fix, status}")

    queue = sub.add_parser("queue", parents=[common],
                           help="the records: list, show, retry; export to and import from a "
                                "USB stick")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    qlist = queue_sub.add_parser(
        "list", parents=[common],
        help="one line per record: id, state, attempts, last error (cut on a terminal, "
             "whole when piped)")
    qlist.add_argument("--json", action="store_true", help="a JSON list, one object a record")
    qshow = queue_sub.add_parser(
        "show", parents=[common],
        help="one record's history (its state changes and errors; never its contents)")
    qshow.add_argument("id", metavar="ID", help="a record id (kiosk queue list)")
    qshow.add_argument("--json", action="store_true", help="one JSON object")
    qretry = queue_sub.add_parser(
        "retry", parents=[common],
        help="put rejected records back in the outbox (after the cause is fixed)")
    qretry.add_argument("ids", nargs="*", metavar="ID", help="record ids (kiosk queue list)")
    qretry.add_argument("--all", action="store_true", help="every rejected record")
    qexport = queue_sub.add_parser(
        "export", parents=[common],
        help="copy the sealed records to a USB stick for the central office, when there is "
             "no link (docs/usb.md)")
    qexport.add_argument("--to", type=Path, required=True, metavar="DIR",
                         help="the mounted stick (or a directory on it)")
    qexport.add_argument("--again", action="store_true",
                         help="also the records exported before and not yet acknowledged "
                              "(a stick was lost)")
    qexport.add_argument("--from", dest="from_journal", type=Path, metavar="FILE",
                         help="salvage: the sealed records that still read in a damaged or "
                              "quarantined journal (journal.db.corrupt-...), read-only")
    qexport.add_argument("--local", action="store_true",
                         help="DIR is on the kiosk's own disk on purpose (without it, that is "
                              "refused: an empty mount point is not a stick)")
    qimport = queue_sub.add_parser(
        "import", parents=[common],
        help="acknowledge records with the .receipts files the central office wrote on "
             "the stick")
    qimport.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="a .receipts file, or a directory holding them (the stick)")

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
    export.add_argument("--out", type=Path, required=True, metavar="FILE.db",
                        help="the new file (an existing one is not overwritten)")

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
    keys_init = keys_sub.add_parser(
        "init", parents=[common],
        help="make this kiosk's device key if missing (a new kiosk), then show it as `keys "
             "show` does")
    keys_init.add_argument(
        "--replace", action="store_true",
        help="make a new device key although the journal holds records sealed with the "
             "lost one (register it with kiosk-intake register --replace)")
    keys_sub.add_parser("show", parents=[common],
                        help="the device public key to register with the intake (creates "
                             "nothing)")

    hw = sub.add_parser("hw", parents=[common], help="hardware maintenance tools")
    hw_sub = hw.add_subparsers(dest="hw_command", required=True, metavar="ACTION")
    hw_sub.add_parser("selftest", parents=[common], help="check every device; exit 1 on failure")
    fp = hw_sub.add_parser("fingerprint", parents=[common], help="the fingerprint sensor")
    fp_sub = fp.add_subparsers(dest="fp_command", required=True, metavar="ACTION")
    capture = fp_sub.add_parser("capture", parents=[common], help="capture one image to a PNG")
    capture.add_argument("--out", required=True, metavar="FILE.png",
                         help="where to write the image")
    capture.add_argument("--timeout", type=_seconds, default=CAPTURE_TIMEOUT_S, metavar="S",
                         help="seconds to wait for a finger (default %(default)g)")
    camera = hw_sub.add_parser("camera", parents=[common], help="the camera")
    camera_sub = camera.add_subparsers(dest="camera_command", required=True, metavar="ACTION")
    snapshot = camera_sub.add_parser("snapshot", parents=[common], help="one portrait JPEG")
    snapshot.add_argument("--out", required=True, metavar="FILE.jpg",
                          help="where to write the JPEG")
    card = hw_sub.add_parser("card", parents=[common], help="the smart-card reader")
    card_sub = card.add_subparsers(dest="card_command", required=True, metavar="ACTION")
    watch_cards = card_sub.add_parser("watch", parents=[common],
                                      help="print reader and card events until Ctrl-C")
    watch_cards.add_argument("--seconds", type=_seconds, default=None, metavar="N",
                             help="stop after N seconds")
    check_card = card_sub.add_parser(
        "check", parents=[common],
        help="log a staff card in as the touchscreen would, step by step (asks the PIN)")
    check_card.add_argument("--pin-stdin", action="store_true",
                            help="read the PIN from stdin instead of asking")
    chuid = card_sub.add_parser(
        "chuid", parents=[common],
        help="the CHUID a new staff card carries, for yubico-piv-tool write-object")
    chuid.add_argument("staff_id", metavar="STAFF_ID", help="1-16 printable ASCII characters")
    chuid.add_argument("--out", metavar="FILE", default=None,
                       help="write the bytes here (default: hex on stdout)")
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
    try:
        return _run(args)
    except Terminated:  # `kiosk demo` (stop_on_sigterm)
        print(f"kiosk {args.command}: stopped by SIGTERM{_STOPPED[args.command]}",
              file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:  # any verb, `kiosk doctor` included
        print(f"kiosk {args.command}: interrupted (Ctrl-C){_STOPPED[args.command]}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head -1`: no traceback
        return exit_reader_gone()


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _run(args: argparse.Namespace) -> int:
    if args.command == "doctor":  # a config that does not load is one of its findings
        from kiosk.commands.output import holdable
        from kiosk.doctor import doctor_command

        return doctor_command(args.config, as_json=args.json, out=holdable())
    # The subcommand's --config (after the verb) wins over the one before it.
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        if args.command == "run":  # the panel says so too, not a blank screen
            setup_logging("INFO")
            from kiosk.app import run_misconfigured

            return run_misconfigured(exc, args.config)
        return EXIT_CONFIG
    # $KIOSK_LOG_LEVEL lets a maintainer turn on DEBUG for one command without editing files.
    level = os.environ.get("KIOSK_LOG_LEVEL", config["kiosk"]["log_level"]).upper()
    if level not in LOG_LEVELS:  # only the variable can be wrong here: the config is checked
        print(f"kiosk: KIOSK_LOG_LEVEL={level.lower()!r} is not a level ("
              f"{', '.join(LOG_LEVELS)}); logging at INFO", file=sys.stderr)
        level = "INFO"
    setup_logging(level)
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
        print(f"kiosk: {_permission_line(exc, config.data_dir, args.command)}",
              file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:
        raise  # main's: the reader went away
    except OSError as exc:
        print(f"kiosk: {_os_error_line(exc, config.data_dir)}", file=sys.stderr)
        return EXIT_FAIL


def _permission_line(exc: PermissionError, data_dir: Path, command: str) -> str:
    """A file this user may not use, as one line with what to do: within the data directory,
    run as its user (or move kiosk.data_dir); elsewhere, for `kiosk update` (the releases
    root, root's on a kiosk), run it as root."""
    if not exc.filename:
        return f"permission denied: {exc.strerror or exc}"
    name = Path(os.fsdecode(exc.filename))
    if name == data_dir or name.is_relative_to(data_dir):
        return (f"permission denied: {name} (run as the kiosk user, or set kiosk.data_dir to "
                "a writable directory)")
    if command == "update":
        return (f"permission denied: {name}: kiosk update installs releases, moves "
                "`current` and restarts the services, so it needs root: sudo kiosk update ...")
    return f"permission denied: {name} (this user may not use it)"


def _os_error_line(exc: OSError, data_dir: Path) -> str:
    """An operating-system error a verb did not handle itself, as one line naming its file.
    Within the data directory (a file in its place, its file system read-only or gone: an SD
    card's partition remounted read-only after errors) it names the setting to fix too."""
    what = exc.strerror or str(exc)
    if not exc.filename:
        return what
    name = Path(os.fsdecode(exc.filename))
    line = f"cannot use {name}: {what}"
    if name == data_dir or name.is_relative_to(data_dir):
        line += f" (kiosk.data_dir {data_dir} must be a directory the kiosk can write)"
    return line


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    sys.exit(main())
