"""``kiosk update``: new versions installed beside the current one, switched atomically,
checked, and switched back by themselves when the check fails (README: Updating a kiosk).

``releases.py`` the layout on disk (releases, ``current``/``previous`` links, the lock);
``build.py`` making a release (a seeded venv, pip, git builds); ``flow.py`` the order of
an update and a rollback; ``proc.py`` running commands with a clean environment and a log.
"""

from __future__ import annotations

import argparse
import sys

from kiosk.config import Config, config_path_from_env
from kiosk.core.exits import EXIT_CONFIG
from kiosk.update.flow import Settings, Updater
from kiosk.update.releases import UpdateBusy, UpdateFailed

__all__ = ["Settings", "UpdateBusy", "UpdateFailed", "Updater", "update_command"]


def update_command(config: Config, args: argparse.Namespace) -> int:
    """``kiosk update SOURCE | --rollback | --list``: 0 done; 1 failed (UpdateFailed's
    message says where the kiosk is now); 2 a usage mistake."""
    actions = [bool(args.source), args.rollback, args.list]
    if sum(actions) != 1:
        print("kiosk update: give one of SOURCE (a wheel file or git+URL@REF), --rollback "
              "or --list", file=sys.stderr)
        return EXIT_CONFIG
    settings = Settings.from_config(config, root=args.root, find_links=args.find_links or (),
                                    offline=args.offline,
                                    config_file=config_path_from_env(args.config))
    updater = Updater(settings)
    if args.list:
        return updater.list(as_json=args.json)
    if args.rollback:
        return updater.rollback()
    return updater.update(args.source)
