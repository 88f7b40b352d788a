"""``kiosk-intake``: the reference central receiver (the other end of the protocol).

Provisioning, in three commands (see README):

1. ``kiosk-intake keys init --data DIR``: the central office's key pair
   (``DIR/keys/central.key`` stays here, ``DIR/keys/central.pub`` goes to every kiosk);
2. on the kiosk, ``kiosk keys show`` prints its device public key;
3. ``kiosk-intake register --data DIR --kiosk ID --key HEX``: trust that kiosk's signatures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.errors import SealingError
from kiosk.sealing import generate_central_keypair

_KIOSK_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


def trusted_devices(data: Path) -> dict[str, bytes]:
    """key id -> Ed25519 public key of every registered kiosk."""
    from kiosk.sealing import key_id

    out: dict[str, bytes] = {}
    for path in sorted((data / "devices").glob("*.json")):
        entry = json.loads(path.read_text())
        public = bytes.fromhex(entry["public_key"])
        out[key_id(public)] = public
    return out


def _keys_init(args: argparse.Namespace) -> int:
    keys = Path(args.data) / "keys"
    try:
        private, public = generate_central_keypair(keys)
    except SealingError as exc:
        print(f"kiosk-intake: {exc}", file=sys.stderr)
        return 1
    print(f"central private key: {private} (keep it here, mode 0600)")
    print(f"central public key:  {public} (copy to each kiosk, sealing.central_key)")
    return 0


def _register(args: argparse.Namespace) -> int:
    if not _KIOSK_ID.match(args.kiosk):
        print(f"kiosk-intake: kiosk id {args.kiosk!r} is not valid "
              "(1-32 lowercase letters, digits and '-')", file=sys.stderr)
        return 2
    key = args.key.strip().lower()
    if not _HEX_KEY.match(key):
        print("kiosk-intake: --key must be the 64 hex digits `kiosk keys show` prints",
              file=sys.stderr)
        return 2
    devices = Path(args.data) / "devices"
    devices.mkdir(parents=True, exist_ok=True)
    (devices / f"{args.kiosk}.json").write_text(
        json.dumps({"kiosk_id": args.kiosk, "public_key": key}) + "\n")
    print(f"registered kiosk {args.kiosk}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk-intake", description="central intake")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keys = sub.add_parser("keys", help="the central office's key pair")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys_sub.add_parser("init", help="create the central key pair in DIR/keys")
    init.add_argument("--data", required=True, metavar="DIR")
    reg = sub.add_parser("register", help="trust a kiosk's device key")
    reg.add_argument("--data", required=True, metavar="DIR")
    reg.add_argument("--kiosk", required=True, metavar="ID")
    reg.add_argument("--key", required=True, metavar="HEX")
    args = parser.parse_args(argv)
    if args.command == "keys":
        return _keys_init(args)
    return _register(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
