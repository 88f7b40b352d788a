"""Fuzzing NIK and No. KK parsing with arbitrary text: ``parse_nik`` raises
:class:`~kiosk.enrollment.nik.InvalidNik` only, ``parse_kk``
:class:`~kiosk.enrollment.nik.InvalidFamilyCardNumber` only; what they accept is exactly the
16 ASCII digits typed, with plain separators.
"""

from __future__ import annotations

import contextlib
import re
import time
from datetime import date

from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.enrollment.nik import (
    KK_PARTS,
    NIK_LENGTH,
    NIK_PARTS,
    PROVINCES,
    InvalidFamilyCardNumber,
    InvalidNik,
    parse_kk,
    parse_nik,
)
from tests.fuzz.budget import fuzz

TODAY = date(2025, 6, 1)

typed = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("0123456789 .-\t\n"), max_size=30),
    # 16 digits with a real province, then damaged by the kind of typing people do
    st.tuples(st.sampled_from(sorted(PROVINCES)), st.from_regex(r"[0-9]{14}", fullmatch=True),
              st.lists(st.tuples(st.integers(0, 20), st.sampled_from(
                  [" ", ".", "-", " - ", "  ", "O", "l", "\u0660", "\uff11", "\u00a0", "/"])),
                  max_size=3))
    .map(lambda t: _insert(t[0] + t[1], t[2])),
)


def _insert(text: str, edits: list[tuple[int, str]]) -> str:
    for position, piece in edits:
        text = text[:position] + piece + text[position:]
    return text


@fuzz(200)
@given(text=typed, today=st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1)))
@example(text="7204011208850001", today=TODAY)
@example(text="٧٢٠٤٠١١٢٠٨٨٥٠٠٠١", today=TODAY)           # Arabic-Indic digits
@example(text="７２０４０１１２０８８５０００１", today=TODAY)  # full-width digits
@example(text="7204\u00a001\u00a0120885\u00a00001", today=TODAY)  # no-break spaces
@example(text="7204011208850001\x00", today=TODAY)
@example(text="7204011208850001" * 1000, today=TODAY)
@example(text="", today=TODAY)
def test_parse_nik_gives_a_nik_or_invalid_nik(text: str, today: date) -> None:
    try:
        nik = parse_nik(text, today=today)
    except InvalidNik as exc:
        assert type(exc) is InvalidNik and exc.part in NIK_PARTS
        assert exc.message("id") and exc.message("en")
        return
    digits = re.sub(r"[ .\-]", "", text.strip())
    assert nik.digits == digits and len(digits) == NIK_LENGTH and digits.isascii()
    assert nik.province in PROVINCES and nik.birth_date <= today
    assert nik.sex in ("M", "F") and nik.serial != "0000"


@fuzz(120)
@given(text=typed, today=st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1)))
@example(text="7204010101080012", today=TODAY)
def test_parse_kk_gives_a_number_or_invalid_family_card_number(text: str, today: date) -> None:
    try:
        kk = parse_kk(text, today=today)
    except InvalidFamilyCardNumber as exc:
        assert type(exc) is InvalidFamilyCardNumber and exc.part in KK_PARTS
        return
    assert kk.digits == re.sub(r"[ .\-]", "", text.strip())
    assert kk.issue_date <= today


@given(junk=st.sampled_from(["1 " * 20_000 + "x", "1." * 20_000 + ".", "1 -" * 10_000,
                             "9" * 100_000 + " x"]))
@fuzz(4)
def test_parse_nik_is_quick_on_long_adversarial_text(junk: str) -> None:
    started = time.monotonic()
    with contextlib.suppress(InvalidNik):
        parse_nik(junk, today=TODAY)
    assert time.monotonic() - started < 1.0  # the shape regex does not backtrack badly


@fuzz(30)
@given(value=st.one_of(st.none(), st.integers(), st.binary(max_size=20), st.lists(st.text())))
def test_parse_nik_refuses_what_is_not_text(value: object) -> None:
    try:
        parse_nik(value, today=TODAY)  # type: ignore[arg-type]
    except InvalidNik as exc:
        assert exc.part == "format"
    else:
        raise AssertionError("a non-str parsed as a NIK")
