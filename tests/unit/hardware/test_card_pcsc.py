"""The pcsc card backend's error mapping and APDU plumbing, on a fake pyscard ``scard``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kiosk.errors import (
    ConfigError,
    DeviceBusy,
    DeviceError,
    DeviceNotFound,
    DeviceProtocolError,
    DeviceTimeout,
)
from kiosk.hardware.card import pcsc
from kiosk.hardware.card.errors import CardRemoved
from kiosk.hardware.card.pcsc import PcscCardReader
from kiosk.hardware.registry import create_device

H = bytes.fromhex
READER = "ACS ACR39U ICC Reader 00 00"

# PC/SC return codes and flags (pcsc-lite's pcsclite.h; Windows uses the same numbers).
CODES = {
    "SCARD_S_SUCCESS": 0x0, "SCARD_E_CANCELLED": 0x80100002,
    "SCARD_E_UNKNOWN_READER": 0x80100009, "SCARD_E_TIMEOUT": 0x8010000A,
    "SCARD_E_SHARING_VIOLATION": 0x8010000B, "SCARD_E_NO_SMARTCARD": 0x8010000C,
    "SCARD_E_NOT_TRANSACTED": 0x80100016, "SCARD_E_READER_UNAVAILABLE": 0x80100017,
    "SCARD_E_NO_SERVICE": 0x8010001D, "SCARD_E_SERVICE_STOPPED": 0x8010001E,
    "SCARD_E_NO_READERS_AVAILABLE": 0x8010002E, "SCARD_W_UNRESPONSIVE_CARD": 0x80100066,
    "SCARD_W_UNPOWERED_CARD": 0x80100067, "SCARD_W_RESET_CARD": 0x80100068,
    "SCARD_W_REMOVED_CARD": 0x80100069,
    "SCARD_STATE_UNAWARE": 0x0, "SCARD_STATE_CHANGED": 0x2, "SCARD_STATE_UNKNOWN": 0x4,
    "SCARD_STATE_UNAVAILABLE": 0x8, "SCARD_STATE_EMPTY": 0x10, "SCARD_STATE_PRESENT": 0x20,
    "SCARD_STATE_MUTE": 0x200, "SCARD_SCOPE_USER": 0, "SCARD_SHARE_SHARED": 2,
    "SCARD_PROTOCOL_T0": 1, "SCARD_PROTOCOL_T1": 2, "SCARD_LEAVE_CARD": 0,
}


class FakeScard:
    """Just enough of ``smartcard.scard`` for one reader; APDU answers come from a script."""

    def __init__(self, readers: list[str] | None = None) -> None:
        for name, value in CODES.items():
            setattr(self, name, value)
        self.readers = [READER] if readers is None else readers
        self.establish_hr = 0
        self.present = True
        self.script: list[tuple[int, list[int]]] = []
        self.sent: list[bytes] = []
        self.transmit_delay = 0.0
        self.cancelled = threading.Event()

    def SCardEstablishContext(self, scope):
        return self.establish_hr, object()

    def SCardReleaseContext(self, ctx):
        return 0

    def SCardListReaders(self, ctx, groups):
        return (0, list(self.readers)) if self.readers else (self.SCARD_E_NO_READERS_AVAILABLE,
                                                              [])

    def SCardGetStatusChange(self, ctx, timeout, states):
        if timeout:  # the monitor thread: nothing ever changes here
            self.cancelled.wait(timeout / 1000)
            return (self.SCARD_E_CANCELLED if self.cancelled.is_set()
                    else self.SCARD_E_TIMEOUT), []
        flag = self.SCARD_STATE_PRESENT if self.present else self.SCARD_STATE_EMPTY
        return 0, [(name, flag, []) for name, _state in states]

    def SCardCancel(self, ctx):
        self.cancelled.set()
        return 0

    def SCardConnect(self, ctx, reader, share, protocols):
        return (0, 7, self.SCARD_PROTOCOL_T1) if self.present else (
            self.SCARD_E_NO_SMARTCARD, None, 0)

    def SCardDisconnect(self, hcard, disposition):
        return 0

    def SCardStatus(self, hcard):
        return 0, READER, self.SCARD_STATE_PRESENT, 2, list(H("3B8A01654B54502D5354414646CA"))

    def SCardTransmit(self, hcard, protocol, apdu):
        self.sent.append(bytes(apdu))
        time.sleep(self.transmit_delay)
        return self.script.pop(0)

    def SCardGetErrorMessage(self, hr):
        return f"fake error {hr:#x}"


@pytest.fixture
def fake(monkeypatch) -> FakeScard:
    scard = FakeScard()
    monkeypatch.setattr(pcsc, "_load_scard", lambda: scard)
    return scard


@pytest.fixture
def reader(fake) -> Iterator[PcscCardReader]:
    device = PcscCardReader(reader="ACR39", timeout=0.5)
    device.removal_grace = 0.2
    with device:
        yield device


def test_fake_scard_uses_pyscards_numbers():
    scard = pytest.importorskip("smartcard.scard")
    for name, value in CODES.items():
        assert getattr(scard, name) & 0xFFFFFFFF == value, name


def test_pcsc_is_registered_with_its_options():
    with pytest.raises(ConfigError, match=r"hardware\.card\.timeout"):
        create_device("card", {"type": "pcsc", "timeout": 0})
    with pytest.raises(ConfigError, match=r"hardware\.card\.reader"):
        create_device("card", {"type": "pcsc", "reader": 3})
    assert isinstance(create_device("card", {"type": "pcsc", "reader": "ACR"}), PcscCardReader)


def test_pcsc_open_picks_the_reader_by_substring(reader):
    assert reader.reader_name == READER


@pytest.mark.parametrize(("readers", "needle"), [
    ([], "readers seen: none"),
    (["Gemalto PC Twin Reader 00 00"], "'Gemalto PC Twin Reader 00 00'"),
])
def test_pcsc_open_without_the_reader_names_the_readers_seen(fake, readers, needle):
    fake.readers = readers
    device = PcscCardReader(reader="ACR39")
    with pytest.raises(DeviceNotFound, match="ACR39") as missing:
        device.open()
    assert needle in str(missing.value)
    assert device.closed


def test_pcsc_open_without_pcscd_says_so(fake):
    fake.establish_hr = fake.SCARD_E_NO_SERVICE
    with pytest.raises(DeviceNotFound, match="pcscd"):
        PcscCardReader().open()


@pytest.mark.parametrize(("hr", "error"), [
    ("SCARD_W_REMOVED_CARD", CardRemoved),
    ("SCARD_E_NO_SMARTCARD", CardRemoved),
    ("SCARD_E_SHARING_VIOLATION", DeviceBusy),
    ("SCARD_E_TIMEOUT", DeviceTimeout),
    ("SCARD_E_READER_UNAVAILABLE", DeviceNotFound),
    ("SCARD_E_NO_SERVICE", DeviceNotFound),
    ("SCARD_W_UNRESPONSIVE_CARD", DeviceError),
    ("SCARD_E_NOT_TRANSACTED", DeviceProtocolError),  # card still there: a broken exchange
])
def test_pcsc_transmit_maps_pcsc_errors(reader, fake, hr, error):
    fake.script = [(CODES[hr], [])]
    with pytest.raises(error) as raised:
        reader.transmit(H("00A4040000"))
    assert type(raised.value) is error or error is DeviceError


def test_pcsc_empty_answer_from_a_pulled_card_is_card_removed(reader, fake):
    fake.script = [(0, [0x90, 0x00]), (0, [])]  # vpcd's answer when the card leaves mid-command
    reader.transmit(H("00A4040000"))
    fake.present = False
    with pytest.raises(CardRemoved, match=r"removed from .*ACR39U.* during APDU 00 20"):
        reader.transmit(H("0020008008313233343536FFFF"))


def test_pcsc_empty_answer_from_a_present_card_is_a_protocol_error(reader, fake):
    fake.script = [(0, [0x90])]
    with pytest.raises(DeviceProtocolError, match="no status word"):
        reader.transmit(H("00A4040000"))


def test_pcsc_follows_61xx_with_get_response(reader, fake):
    fake.script = [(0, [0xAA, 0x61, 0x02]), (0, [0xBB, 0xCC, 0x90, 0x00])]
    assert reader.transmit(H("00CB3FFF055C035FC10200")) == (H("AABBCC"), 0x90, 0x00)
    assert fake.sent[1] == H("00C0000002")


def test_pcsc_resends_with_the_le_the_card_asks_for(reader, fake):
    fake.script = [(0, [0x6C, 0x04]), (0, [1, 2, 3, 4, 0x90, 0x00])]
    assert reader.transmit(H("FFCA000000")) == (H("01020304"), 0x90, 0x00)
    assert fake.sent[1] == H("FFCA000004")


def test_pcsc_card_that_never_answers_times_out(reader, fake):
    fake.transmit_delay = 1.0
    fake.script = [(0, [0x90, 0x00])]
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"did not answer APDU 00 A4 within 0\.5 s"):
        reader.transmit(H("00A4040000"))
    assert time.monotonic() - started < 0.9


def test_pcsc_card_info_reads_atr_and_no_uid_from_a_contact_card(reader, fake):
    fake.script = [(0, [0x6E, 0x00])]  # FF CA on a contact card: CLA not supported
    info = reader.card_info()
    assert info.atr == H("3B8A01654B54502D5354414646CA") and info.uid is None


def test_pcsc_no_card_is_not_found(reader, fake):
    fake.present = False
    assert not reader.is_card_present
    with pytest.raises(DeviceNotFound, match="no card"):
        reader.transmit(H("00A4040000"))
    assert reader.wait_for_card(timeout=0.1) is None


def test_pcsc_close_stops_the_monitor_thread_promptly(fake):
    device = PcscCardReader()
    device.open()
    started = time.monotonic()
    device.close()
    device.close()
    assert time.monotonic() - started < 1.0
    assert not any(t.name == "pcsc-monitor" and t.is_alive() for t in threading.enumerate())
