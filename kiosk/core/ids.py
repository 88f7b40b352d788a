"""What a kiosk id and a record id are: the one rule the config check, the journal, the
sealer and the intake all apply.

A kiosk id is 1-32 characters, lowercase ASCII letters, digits and ``-``, starting with a
letter or digit (``poso-01``): safe as a file name, a URL path segment and a signature key
id. A record id is ``{kiosk id}-{seq}-{6 lowercase hex}``, the sequence number written with
at least 7 digits (``poso-01-0000042-a1b2c3``); the intake takes up to 12.

A key id names a public key (a kiosk's device key, the intake's receipt key, the central
key): the first 16 hex digits of the SHA-256 of its 32 bytes. A public key is written as its
64 lowercase hex digits (``kiosk keys show``, the intake's device files).

Every check is a ``fullmatch``: a pattern ending in ``$`` would let a trailing newline
through, and ``[0-9]`` (not ``\\d``) keeps out the other scripts' digits.

>>> is_kiosk_id("poso-01"), is_kiosk_id("Poso_01")
(True, False)
>>> is_record_id(make_record_id("poso-01", 42, "a1b2c3"), "poso-01")
True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import TypeGuard

__all__ = [
    "KEY_ID",
    "KIOSK_ID",
    "KIOSK_ID_RULE",
    "PUBLIC_KEY_HEX",
    "RECORD_ID",
    "RECORD_SEQ_DIGITS",
    "RECORD_SEQ_MAX_DIGITS",
    "RECORD_TAIL_BYTES",
    "is_kiosk_id",
    "is_record_id",
    "is_record_id_for",
    "key_id",
    "make_record_id",
    "new_record_id",
]

#: The kiosk id pattern (use ``fullmatch``, or :func:`is_kiosk_id`).
KIOSK_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
#: What a kiosk id may be, in the words the config check and the intake print.
KIOSK_ID_RULE = "1-32 lowercase letters, digits and '-'"
#: The sequence number in a record id has at least this many digits (zero-padded) ...
RECORD_SEQ_DIGITS = 7
#: ... and at most this many (the intake refuses longer ones).
RECORD_SEQ_MAX_DIGITS = 12
#: Random bytes at the end of a record id (written as 6 lowercase hex digits).
RECORD_TAIL_BYTES = 3

#: A public key's text: its 32 bytes (Ed25519 or X25519) as lowercase hex (``fullmatch``).
PUBLIC_KEY_HEX = re.compile(r"[0-9a-f]{64}")
#: A key id as :func:`key_id` writes it (``fullmatch``).
KEY_ID = re.compile(r"[0-9a-f]{16}")

# After the kiosk id: one compiled pattern for the rest, found at an offset; a pattern with
# the kiosk id in it would be compiled anew for every record (125 us a call against 5 us).
_RECORD_REST = re.compile(
    rf"-[0-9]{{{RECORD_SEQ_DIGITS},{RECORD_SEQ_MAX_DIGITS}}}-[0-9a-f]{{{2 * RECORD_TAIL_BYTES}}}")
#: A record id of any kiosk (``fullmatch``), for ids read where the kiosk id is not known
#: (a command's output); :func:`is_record_id` checks one against its kiosk id.
RECORD_ID = re.compile(KIOSK_ID.pattern + _RECORD_REST.pattern)


def is_kiosk_id(text: object) -> TypeGuard[str]:
    """True when ``text`` is a string and a valid kiosk id."""
    return isinstance(text, str) and KIOSK_ID.fullmatch(text) is not None


def make_record_id(kiosk_id: str, seq: int, tail: str) -> str:
    """The record id of record ``seq`` of ``kiosk_id`` with random ``tail`` (6 hex digits)."""
    return f"{kiosk_id}-{seq:0{RECORD_SEQ_DIGITS}d}-{tail}"


def new_record_id(kiosk_id: str, seq: int) -> str:
    """A fresh record id for record ``seq`` of ``kiosk_id``, its tail random."""
    return make_record_id(kiosk_id, seq, secrets.token_hex(RECORD_TAIL_BYTES))


def is_record_id(record_id: object, kiosk_id: object) -> bool:
    """True when ``kiosk_id`` is valid and ``record_id`` is one of its record ids, so both
    are safe as path components."""
    if not (isinstance(record_id, str) and is_kiosk_id(kiosk_id)):
        return False
    return (record_id.startswith(kiosk_id)
            and _RECORD_REST.fullmatch(record_id, len(kiosk_id)) is not None)


def is_record_id_for(record_id: object, kiosk_id: object, seq: int) -> bool:
    """:func:`is_record_id`, and the id carries sequence number ``seq``."""
    return (is_record_id(record_id, kiosk_id) and isinstance(record_id, str)
            and record_id.startswith(f"{kiosk_id}-{seq:0{RECORD_SEQ_DIGITS}d}-"))


def key_id(public_key: bytes) -> str:
    """The key id of ``public_key``: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(bytes(public_key)).hexdigest()[:16]
