"""Fuzzing what the kiosk reads from upsd (NUT's network protocol): ``split_line``, the
client's answers to ``GET VAR`` / ``LIST`` over a fake socket, and ``status_from_vars``.
A line that is not NUT must be a :class:`~kiosk.errors.DeviceError`
(``DeviceProtocolError`` mostly), never anything else, and reading must stop.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.errors import DeviceError
from kiosk.power.base import PowerStatus
from kiosk.power.nut import status_from_vars
from kiosk.power.nut_client import NutClient, split_line
from tests.fuzz.budget import fuzz


def quote(word: str) -> str:
    """How upsd writes a word that may hold spaces or quotes."""
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


@fuzz(150)
@given(line=st.one_of(st.text(max_size=80), st.text(st.sampled_from('ab "\\ '), max_size=30)))
@example(line='"')
@example(line='VAR ups x "abc\\')   # a backslash at the very end, inside a quote
@example(line='"\\"')
def test_split_line_splits_or_raises_device_error(line: str) -> None:
    try:
        words = split_line(line)
    except DeviceError as exc:
        assert "quote" in str(exc)
        return
    assert all(isinstance(w, str) for w in words)


@fuzz(150)
@given(words=st.lists(st.text(st.characters(exclude_characters="\n\r"), max_size=12),
                      min_size=1, max_size=6))
def test_split_line_reads_back_what_upsd_writes(words: list[str]) -> None:
    assert split_line(" ".join(quote(w) for w in words)) == words


class FakeSocket:
    """upsd's side of the line: a byte stream handed out in slices, then the peer closes."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.sent = data, max(1, size), b""

    def settimeout(self, timeout: float) -> None:
        assert timeout > 0

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, n: int) -> bytes:
        take = min(n, self.size)
        out, self.data = self.data[:take], self.data[take:]
        return out

    def close(self) -> None:
        pass


def line(*words: str) -> bytes:
    return (" ".join(quote(w) if " " in w or not w else w for w in words) + "\n").encode()


GOOD = {
    "get": b"".join(line("VAR", "ups", name, value) for name, value in [
        ("ups.status", "OB DISCHRG"), ("battery.charge", "55"), ("battery.runtime", "1200"),
        ("battery.voltage", "12.6")]),
    "list_ups": line("BEGIN", "LIST", "UPS") + line("UPS", "ups", "Eaton 5E")
    + line("END", "LIST", "UPS"),
    "list_var": line("BEGIN", "LIST", "VAR", "ups") + line("VAR", "ups", "ups.status", "OL")
    + line("END", "LIST", "VAR", "ups"),
}
NAMES = ["ups.status", "battery.charge", "battery.runtime", "battery.voltage"]


def run(client: NutClient, what: str) -> object:
    try:
        if what == "get":
            return client.get_vars("ups", NAMES)
        if what == "list_ups":
            return client.list_ups()
        return client.list_var("ups")
    except DeviceError as exc:
        assert str(exc)
        return exc


def test_the_fake_upsd_answers() -> None:
    for what, stream in GOOD.items():
        client = NutClient(timeout=1.0)
        client._sock = FakeSocket(stream, 7)  # type: ignore[assignment]
        assert isinstance(run(client, what), dict), what


def upsd_streams(what: str) -> st.SearchStrategy[bytes]:
    good = GOOD[what]
    return st.one_of(
        st.binary(max_size=300),
        st.lists(st.one_of(
            st.sampled_from([b"ERR DATA-STALE\n", b"ERR VAR-NOT-SUPPORTED\n", b"ERR\n",
                             b"ERR ACCESS-DENIED\n", b"ERR UNKNOWN-UPS\n", b"BEGIN LIST UPS\n",
                             b"\n", b'"\n', b"END LIST UPS\n", b"VAR ups ups.status OL\n",
                             b"UPS ups \"x\"\n", b"x" * 5000]),
            st.binary(max_size=20)), max_size=8).map(b"".join),
        st.integers(0, len(good)).map(lambda n: good[:n]),  # cut off mid-answer
    )


@fuzz(120)
@given(data=st.data(), what=st.sampled_from(["get", "list_ups", "list_var"]),
       size=st.integers(1, 64))
def test_nut_client_answers_or_raises_device_error(data: st.DataObject, what: str,
                                                    size: int) -> None:
    stream = data.draw(upsd_streams(what))
    client = NutClient(timeout=1.0)
    client._sock = FakeSocket(stream, size)  # type: ignore[assignment]
    assert isinstance(run(client, what), dict | DeviceError)




def test_an_unknown_ups_names_the_known_ones() -> None:
    stream = b"ERR UNKNOWN-UPS\n" + line("BEGIN", "LIST", "UPS") + line("UPS", "eaton", "E")
    client = NutClient(timeout=1.0)
    client._sock = FakeSocket(stream + b"END LIST UPS\n", 5)  # type: ignore[assignment]
    result = run(client, "get")
    assert isinstance(result, DeviceError) and "eaton" in str(result)


def test_list_ups_with_a_bare_ups_line_is_a_device_error() -> None:
    client = NutClient(timeout=1.0)
    client._sock = FakeSocket(b"BEGIN LIST UPS\nUPS\nEND LIST UPS\n", 64)  # type: ignore[assignment]
    assert isinstance(run(client, "list_ups"), dict | DeviceError)


number_text = st.one_of(
    st.floats(allow_nan=False).map(repr), st.integers().map(str), st.text(max_size=10),
    st.sampled_from(["inf", "-inf", "1e999", " 50 ", "1_000", "", "OL", "-0"]))


@fuzz(150)
@given(variables=st.fixed_dictionaries({}, optional={
    "ups.status": st.one_of(st.text(max_size=20), st.sampled_from(["OL", "OB LB", "OB FSD"])),
    "battery.charge": number_text, "battery.runtime": number_text,
    "battery.voltage": number_text}))
def test_status_from_vars_gives_a_status(variables: dict[str, str]) -> None:
    status = status_from_vars(variables)
    assert isinstance(status, PowerStatus)
    assert status.battery_percent is None or 0 <= status.battery_percent <= 100
    assert status.runtime_s is None or status.runtime_s >= 0




@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_status_from_vars_with_a_nan_charge_is_not_a_crash(value: str) -> None:
    status = status_from_vars({"ups.status": "OB", "battery.charge": value})
    assert status.battery_percent is None
