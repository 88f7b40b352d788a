"""``kiosk config check/show``, ``kiosk keys show`` and ``kiosk update``: the kiosk's
configuration, its keys and its software."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk.config import Config
from kiosk.core.exits import EXIT_OK
from kiosk.options import toml_value


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    if args.config_command == "check":
        from kiosk.config import check_all

        check_all(config)
        sources = ", ".join(map(str, config.sources)) or "packaged defaults only"
        print(f"configuration ok ({sources})")
        return EXIT_OK
    print(_to_toml(config.as_dict(mask_secrets=True)), end="")
    return EXIT_OK


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
