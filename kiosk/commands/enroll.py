"""``kiosk run``, ``kiosk demo`` and ``kiosk upload``: the kiosk at its work (the
touchscreen, simulated citizens, the uploader)."""

from __future__ import annotations

import argparse
import sys

from kiosk.config import Config
from kiosk.core.exits import EXIT_CONFIG, stop_on_sigterm


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from kiosk.app import run_app  # Kivy is imported only here

    return run_app(config)


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from kiosk.demo import run_demo

    if args.citizens < 0:
        print("kiosk demo: --citizens must be 0 or more", file=sys.stderr)
        return EXIT_CONFIG
    stop_on_sigterm()  # the citizen in progress is discarded, the journal closed; exit 143
    return run_demo(config, args.citizens, args.seed, sys.stdout)


def cmd_upload(config: Config, args: argparse.Namespace) -> int:
    from kiosk.upload.command import upload_command

    return upload_command(config, once=args.once, out=sys.stdout)
