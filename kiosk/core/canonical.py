"""Canonical JSON, the size of the signature over it, and how a digest is written in it.

A sealed record's manifest and an intake's receipt are JSON signed with Ed25519; the
signature is checked over the exact bytes, and the parsed object must encode back to those
same bytes (so no two encodings of one content are both accepted). :func:`canonical_json`
is that one encoding; :func:`parse_canonical` and :func:`check_types` are the strict reading
both the manifest and the receipt go through. :func:`compact_json` is the encoding of the
data parts inside a record (UTF-8, not escaped to ASCII: names in Indonesian stay short).
A SHA-256 in any of them (a step's blob, a packet) is 64 lowercase hex digits,
:data:`SHA256_HEX`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["SHA256_HEX", "SIGNATURE_BYTES", "canonical_json", "check_types", "compact_json",
           "parse_canonical"]

#: An Ed25519 detached signature, appended to the signed bytes (manifests, receipts).
SIGNATURE_BYTES = 64
#: A SHA-256 digest as written in manifests, receipts and upload metadata (``fullmatch``).
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON: keys sorted, no spaces, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def compact_json(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON, keys sorted (a record's data parts)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def parse_canonical(body: bytes, keys: Collection[str], error: type[Exception],
                    what: str) -> dict[str, Any]:
    """``body`` parsed strictly: ASCII JSON, an object with exactly ``keys``, and encoded
    back by :func:`canonical_json` to the same bytes. Raises ``error`` naming ``what``."""
    try:
        obj = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # [[[[... nests too deep
        raise error(f"{what} is not ASCII JSON") from exc
    if not isinstance(obj, dict) or set(obj) != set(keys):
        raise error(f"{what} does not have the format-1 keys")
    if canonical_json(obj) != body:
        raise error(f"{what} is not canonical JSON")
    return obj


def check_types(obj: Mapping[str, Any], types: Mapping[str, type], error: type[Exception],
                what: str) -> None:
    """Raise ``error`` unless each field of ``types`` has its type (a bool is no int)."""
    for name, kind in types.items():
        value = obj[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise error(f"{what} field {name!r} is not a {kind.__name__}")
