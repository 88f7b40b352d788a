"""Fuzzing what the kiosk's uploader reads from the intake's (or a proxy's) HTTP answers: the
refusal body (``parse_refusal``) and the error detail it logs (``error_detail``). Any body must
give a result (``None`` / a one-line text), never an exception.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.upload.failures import error_detail as _error_detail
from kiosk.upload.failures import parse_refusal as _refusal
from tests.fuzz.budget import fuzz

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
bodies = st.one_of(
    st.none(), st.binary(max_size=300), st.text(max_size=300),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"code": st.text(max_size=50)}, optional={
        "error": st.one_of(st.text(max_size=400), json_value),
        "permanent": json_value}).map(lambda d: json.dumps(d).encode()),
)




@fuzz(200)
@given(body=bodies)
@example(body=b'{"code":"wrong_key","error":"the packet is signed by key x","permanent":true}')
@example(body=b"\xff\xfe{")
@example(body="")
def test_refusal_and_error_detail_take_any_body(body: bytes | str | None) -> None:
    refusal = _refusal(body)
    assert refusal is None or (isinstance(refusal[0], str) and isinstance(refusal[2], bool))
    detail = _error_detail(body)
    assert isinstance(detail, str) and "\n" not in detail


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000])
def test_a_deeply_nested_answer_body_is_just_text(body: bytes) -> None:
    assert _refusal(body) is None
    assert isinstance(_error_detail(body), str)
