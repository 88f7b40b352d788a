"""``kiosk config check/show``, ``kiosk keys init/show`` and ``kiosk update``: the kiosk's
configuration, its keys and its software."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiosk.config import Config
from kiosk.core.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK
from kiosk.options import toml_value


def placeholder_warnings(config: Config) -> list[str]:
    """What is valid but cannot be meant: the template's placeholders left in (a host
    under .invalid, which never resolves, RFC 2606). Not errors: a kiosk on a tour
    enrolls for days without its intake."""
    from urllib.parse import urlsplit

    url = config["upload"]["url"]
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "invalid" or host.endswith(".invalid"):
        return [f"upload.url = {url!r} is a placeholder (a .invalid host never resolves): "
                "set the central intake's address (until then no record is sent)"]
    return []


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    if args.config_command == "check":
        from kiosk.config import check_all

        check_all(config)
        sources = ", ".join(map(str, config.sources)) or "packaged defaults only"
        print(f"configuration ok ({sources})")
        for warning in placeholder_warnings(config):
            print(f"kiosk config check: warning: {warning}", file=sys.stderr)
        return EXIT_OK
    print(_to_toml(config.as_dict(mask_secrets=True)), end="")
    return EXIT_OK


def cmd_keys(config: Config, args: argparse.Namespace) -> int:
    """``kiosk keys init``: make this kiosk's device key (and, with ``sealing.central_key =
    "dev"``, the development central pair) if missing, then show them; ``kiosk keys show``:
    show them, creating nothing (a mistyped ``kiosk.data_dir`` must not make a new identity
    to register). 0, or 1 when ``show`` finds no device key, or ``init`` a lost one (the
    journal holds records sealed with it) without ``--replace``; ``show``: 2 when the central
    key (``sealing.central_key``) is missing or unusable, as ``kiosk config check`` says,
    after showing the device key all the same (``init``: 0, the device key made, and one
    line saying the central key comes next, as README's order has it)."""
    from kiosk.errors import KeyFileMissing, SealingError
    from kiosk.runtime import ensure_dev_central_key
    from kiosk.sealing import DeviceKey, key_id, load_central_public_key

    if args.keys_command == "init":
        from kiosk.runtime import lost_device_key

        lost = lost_device_key(config)
        if lost is not None and not args.replace:
            print(f"kiosk keys init: {lost}", file=sys.stderr)
            return EXIT_FAIL
        device = DeviceKey.load_or_create(config.device_key_path)
        ensure_dev_central_key(config)
    else:
        try:
            device = DeviceKey.load(config.device_key_path)
        except KeyFileMissing:
            data_dir = config.data_dir
            if data_dir.exists() and not data_dir.is_dir():  # keys init cannot make it there
                print(f"kiosk keys show: no device key: kiosk.data_dir {data_dir} is not a "
                      "directory; check kiosk.data_dir in the configuration", file=sys.stderr)
            else:
                print(f"kiosk keys show: no device key at {config.device_key_path}; on a "
                      "new kiosk `kiosk keys init` makes it, else check kiosk.data_dir",
                      file=sys.stderr)
            return EXIT_FAIL
    central_problem = ""
    if config.uses_dev_central_key and not config.central_key_path.exists():
        central_line = "none yet (development key: `kiosk keys init` or the first start)"
    else:
        try:
            central = load_central_public_key(config.central_key_path)
        except KeyFileMissing as exc:  # a new kiosk's central.pub not copied yet
            central_problem, central_line = str(exc), f"none: {exc.problem}"
        except (OSError, SealingError) as exc:
            central_problem, central_line = str(exc), f"none: {exc}"
        else:
            central_line = key_id(central) + (
                "  (development key)" if config.uses_dev_central_key else "")
    print(f"kiosk id:        {config.kiosk_id}")
    print(f"device key:      {device.public_bytes.hex()}")
    print(f"device key id:   {device.key_id}")
    print(f"central key id:  {central_line}")
    print("register with:   kiosk-intake register --data DIR "
          f"--kiosk {config.kiosk_id} --key {device.public_bytes.hex()}")
    if central_problem:  # the device key is shown (it registers without it)
        if args.keys_command == "init":  # its work is done; the central key comes next
            print(f"kiosk keys init: next: sealing.central_key: {central_problem}",
                  file=sys.stderr)
            return EXIT_OK
        # show: the fault is the configuration's, as `kiosk config check` says (2)
        print(f"kiosk keys show: configuration error: sealing.central_key: "
              f"{central_problem}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def cmd_update(config: Config, args: argparse.Namespace) -> int:
    from kiosk.update import update_command

    return update_command(config, args)


def _to_toml(data: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)
