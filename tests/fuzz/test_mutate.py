"""The damage strategies themselves: every width of length field, at the buffer's end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import damaged


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from([1, 2, 4]))
def test_a_length_field_of_any_width_at_the_end_is_rewritten_in_place(data: st.DataObject,
                                                                      width: int) -> None:
    good = bytes(range(4)) + b"\x07" * width  # the field is the last bytes of the buffer
    out = data.draw(damaged(good, length_fields=[(4, width)], max_mutations=3))
    assert isinstance(out, bytes)
