"""Hypothesis strategies that damage valid bytes the way a bad link, disk or attacker would."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


@st.composite
def mutation(draw: st.DrawFn, data: bytes, *, others: Sequence[bytes] = (),
             length_fields: Sequence[tuple[int, int]] = ()) -> bytes:
    """``data`` with one damage: a bit flip, a byte set, a truncation, an insertion, a
    deletion, a duplicated run, a splice with one of ``others``, or a length field
    (``(offset, width)`` in ``length_fields``, big-endian) rewritten."""
    kinds = ["flip", "set", "truncate", "insert", "delete", "repeat", "append"]
    if others:
        kinds.append("splice")
    if length_fields:
        kinds += ["length", "length"]  # twice as likely: framing is where parsers break
    kind = draw(st.sampled_from(kinds))
    n = len(data)
    position = draw(st.integers(0, max(n - 1, 0)))
    if kind == "flip" and n:
        bit = draw(st.integers(0, 7))
        return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1:]
    if kind == "set" and n:
        value = draw(st.integers(0, 255))
        return data[:position] + bytes([value]) + data[position + 1:]
    if kind == "truncate":
        return data[:draw(st.integers(0, max(n - 1, 0)))]
    if kind == "insert":
        return data[:position] + draw(st.binary(min_size=1, max_size=64)) + data[position:]
    if kind == "delete" and n:
        end = draw(st.integers(position + 1, min(n, position + 64)))
        return data[:position] + data[end:]
    if kind == "repeat" and n:
        end = draw(st.integers(position + 1, min(n, position + 64)))
        return data[:end] + data[position:end] + data[end:]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    if kind == "splice":
        other = draw(st.sampled_from(list(others)))
        cut = draw(st.integers(0, n))
        start = draw(st.integers(0, len(other)))
        return data[:cut] + other[start:]
    if kind == "length":
        offset, width = draw(st.sampled_from(list(length_fields)))
        old = int.from_bytes(data[offset:offset + width], "big")
        limit = (1 << (8 * width)) - 1
        new = draw(st.one_of(
            st.integers(0, limit),
            st.integers(-8, 8).map(lambda d: min(max(old + d, 0), limit)),
            st.sampled_from([0, 1, limit, limit - 1, 1 << (8 * width - 1)]),
        ))
        packed = new.to_bytes(width, "big")
        return data[:offset] + packed + data[offset + width:]
    return data + b"\x00"  # an empty input: any damage is an appended byte


def damaged(data: bytes, *, others: Sequence[bytes] = (),
            length_fields: Sequence[tuple[int, int]] = (), max_mutations: int = 3
            ) -> st.SearchStrategy[bytes]:
    """``data`` with 1 to ``max_mutations`` damages applied one after another."""

    @st.composite
    def chain(draw: st.DrawFn) -> bytes:
        out = data
        for _ in range(draw(st.integers(1, max_mutations))):
            fields = [(o, w) for o, w in length_fields if o + w <= len(out)]
            out = draw(mutation(out, others=others, length_fields=fields))
        return out

    return chain()
