"""The kiosks the intake knows: ``DIR/devices/<kiosk-id>.json``, one registration each.

A registration binds a kiosk id to its device key (``kiosk-intake register``); a packet is
accepted only when it is signed by the key registered *for the kiosk its manifest names*.
A kiosk can be revoked (``kiosk-intake revoke``): its file stays, marked, so the record of
who was trusted when is kept, and every request after it is refused.

The directory is read again on every question (a few small files; ``register`` and
``revoke`` take effect on the next request, without a restart). A file that does not parse,
or whose content contradicts its name, is refused with its name in the log and does not
stop the others from being served.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from kiosk.core.ids import PUBLIC_KEY_HEX, is_kiosk_id
from kiosk.sealing import key_id

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 4096


@dataclass(frozen=True)
class Device:
    kiosk_id: str
    public_key: bytes
    revoked: bool = False
    revoked_at: str | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


def _load(path: Path) -> Device:
    """One registration file; ValueError naming what is wrong."""
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    entry = json.loads(raw)
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    kiosk, public = entry.get("kiosk_id"), entry.get("public_key")
    if not is_kiosk_id(kiosk):
        raise ValueError("kiosk_id missing or malformed")
    if kiosk != path.stem:
        raise ValueError(f"names kiosk {kiosk}, but the file is {path.name}")
    if not isinstance(public, str) or not PUBLIC_KEY_HEX.fullmatch(public):
        raise ValueError("public_key must be 64 lowercase hex digits")
    revoked = entry.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError("revoked must be true or false")
    revoked_at = entry.get("revoked_at")
    return Device(kiosk, bytes.fromhex(public), revoked,
                  revoked_at if isinstance(revoked_at, str) else None)


def load_registration(path: Path) -> Device:
    """One registration file (``kiosk-intake register``); OSError, or ValueError naming
    what is wrong."""
    return _load(path)


def load_devices(data: Path) -> dict[str, Device]:
    """kiosk id -> registration, for every registration file that is sound."""
    out: dict[str, Device] = {}
    for path in sorted((Path(data) / "devices").glob("*.json")):
        try:
            device = _load(path)
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            log.error("registration %s refused: %s", path.name, str(exc)[:200])
            continue
        out[device.kiosk_id] = device
    return out


def trusted_keys(data: Path) -> dict[str, bytes]:
    """key id -> public key of every kiosk registered and not revoked."""
    return {d.key_id: d.public_key for d in load_devices(data).values() if not d.revoked}


def registration(data: Path, kiosk_id: str) -> Device | None:
    """The registration of one kiosk (None when there is none, or it does not load)."""
    if not is_kiosk_id(kiosk_id):
        return None
    path = Path(data) / "devices" / f"{kiosk_id}.json"
    if not path.exists():
        return None
    try:
        return _load(path)
    except (OSError, ValueError) as exc:
        log.error("registration %s refused: %s", path.name, str(exc)[:200])
        return None
