"""The strict reading a manifest and a receipt both go through (kiosk.core.canonical)."""

from __future__ import annotations

import pytest

from kiosk.core.canonical import canonical_json, check_types, parse_canonical


class Refused(Exception):
    pass


KEYS = {"format", "name", "size"}


def test_a_canonical_object_with_exactly_the_keys_is_read() -> None:
    body = canonical_json({"format": 1, "name": "poso-01", "size": 3})
    assert parse_canonical(body, KEYS, Refused, "thing") == {
        "format": 1, "name": "poso-01", "size": 3}


@pytest.mark.parametrize(("body", "words"), [
    (b'{"format":1,"name":"x","size":3', "thing is not ASCII JSON"),
    ('{"format":1,"name":"\u00e9","size":3}'.encode(), "thing is not ASCII JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "thing is not ASCII JSON"),
    (b'{"format":1,"name":"x"}', "thing does not have the format-1 keys"),
    (b'{"extra":0,"format":1,"name":"x","size":3}', "thing does not have the format-1 keys"),
    (b'[1,2,3]', "thing does not have the format-1 keys"),
    (b'{"name":"x","format":1,"size":3}', "thing is not canonical JSON"),  # key order
    (b'{"format": 1,"name":"x","size":3}', "thing is not canonical JSON"),  # a space
])
def test_anything_else_is_refused_with_the_callers_error(body: bytes, words: str) -> None:
    with pytest.raises(Refused, match=words):
        parse_canonical(body, KEYS, Refused, "thing")


@pytest.mark.parametrize(("value", "ok"), [(3, True), (True, False), ("3", False),
                                           (3.5, False), (None, False)])
def test_a_bool_is_not_an_int(value: object, ok: bool) -> None:
    obj = {"format": 1, "name": "x", "size": value}
    if ok:
        check_types(obj, {"format": int, "name": str, "size": int}, Refused, "thing")
    else:
        with pytest.raises(Refused, match="thing field 'size' is not a int"):
            check_types(obj, {"format": int, "name": str, "size": int}, Refused, "thing")
