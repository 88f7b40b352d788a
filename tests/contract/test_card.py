"""Card-reader contract suite: the same cases on every card-reader backend.

The one suite for the ``CardReader`` API (gpiozero's ``tests/test_real_pins.py`` way): the
``rig`` fixture is parametrised over every backend:

* ``sim``: the in-memory SimCardReader, always;
* ``vcard``: the real pcsc backend (pyscard -> libpcsclite -> a private ``pcscd``) talking to
  the Python virtual card through the vpcd reader driver, always. If pcscd or
  vsmartcard-vpcd is missing these FAIL: run ``make test``, which installs them;
* ``real``: the reader named by ``KIOSK_HIL_PCSC_READER`` (a substring of its name) on the
  system pcscd, with a staff card whose PIN is ``KIOSK_HIL_PCSC_PIN`` (and staff id
  ``KIOSK_HIL_PCSC_STAFF_ID`` if set), whose PIV Authentication certificate was issued by
  the CA in the PEM file ``KIOSK_HIL_PCSC_CA`` (the logins are skipped without it). Cases
  needing hands (pulling the card) or that would block a real card are skipped there.
  libpcsclite talks to one pcscd per process, so with ``KIOSK_HIL_PCSC_READER`` set the
  ``vcard`` cases are skipped: run them in a separate pytest run without it. These cases
  carry the ``hil`` mark.

The private pcscd is the session's ``pcscd`` fixture (``tests/conftest.py``), shared with
the pcsc-only cases and the ``kiosk hw card watch`` tool in ``tests/hil/test_card.py``; the
APDU tables of the simulated card are in ``tests/unit/hardware/test_card_sim.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kiosk.errors import DeviceBusy, DeviceNotFound, DeviceTimeout
from kiosk.hardware.card import piv
from kiosk.hardware.card.base import CardEvent, CardReader
from kiosk.hardware.card.errors import (
    CardNotTrusted,
    CardRemoved,
    NotAStaffCard,
    PinBlocked,
    StaffLoginNotSetUp,
    WrongPin,
)
from kiosk.hardware.card.pivcard import AUTH_FAULTS, PivCard
from kiosk.hardware.card.sim import SimCardReader
from kiosk.hardware.card.staff import (
    StaffIdentity,
    pin_retries_left,
    read_staff_id,
    read_uid,
    staff_login,
)
from kiosk.hardware.card.trust import StaffTrust
from tests.contract.backends import real_param, rig_for
from tests.hil.pcscd_harness import PrivatePcscd

REAL_READER = os.environ.get("KIOSK_HIL_PCSC_READER", "")
REAL_CA = os.environ.get("KIOSK_HIL_PCSC_CA", "")
PIN = "123456"
STAFF = "STAFF-0001"
UID = bytes.fromhex("04A1B2C3D4E5F6")
EVENT_WAIT = 5.0  # pcscd polls a serial/virtual reader every 0.4 s


# -- one rig per backend ----------------------------------------------------------------------
class Rig:
    """A reader with a card in it, and the hands that move the card."""

    hands = True  # can insert/remove the card and choose its contents
    reader: CardReader

    def load(self, card: PivCard) -> None:
        """Put a card with this content in (replacing the current one)."""
        raise NotImplementedError

    def insert(self) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def pull_on_ins(self, ins: int | None) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        """Close the reader and open a new one on the same slot (the card stays in)."""
        raise NotImplementedError

    def slow(self, seconds: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.reader.close()


class SimRig(Rig):
    def __init__(self) -> None:
        self.reader = SimCardReader(pin=PIN, staff_id=STAFF)
        self.reader.open()

    def load(self, card: PivCard) -> None:
        self.reader.remove_card()
        self.reader.card = card
        self.reader.insert_card()

    def insert(self) -> None:
        self.reader.insert_card()

    def remove(self) -> None:
        self.reader.remove_card()

    def pull_on_ins(self, ins: int | None) -> None:
        self.reader.remove_on_ins = ins

    def reopen(self) -> None:
        card = self.reader.card
        self.reader.close()
        self.reader = SimCardReader(pin=PIN, staff_id=STAFF)
        self.reader.card = card
        self.reader.open()

    def slow(self, seconds: float) -> None:
        pytest.skip("the simulated card answers at once")


class VcardRig(Rig):
    def __init__(self, daemon: PrivatePcscd) -> None:
        from kiosk.hardware.card.pcsc import PcscCardReader
        from kiosk.hardware.card.vcard import VirtualCard

        self.vcard = VirtualCard(PivCard(pin=PIN, staff_id=STAFF), port=daemon.port(0))
        self.reader = PcscCardReader(reader=daemon.reader_name(0), timeout=1.0)
        self.reader.open()
        self.insert()

    def load(self, card: PivCard) -> None:
        self.remove()
        self.vcard.card = card
        self.insert()

    def insert(self) -> None:
        self.vcard.insert()
        assert self.reader.wait_for_card(timeout=EVENT_WAIT) is not None, "pcscd never saw it"

    def remove(self) -> None:
        self.vcard.remove()
        deadline = time.monotonic() + EVENT_WAIT
        while self.reader.is_card_present:
            assert time.monotonic() < deadline, "pcscd still sees the card removed 5 s ago"
            time.sleep(0.05)

    def pull_on_ins(self, ins: int | None) -> None:
        self.vcard.remove_on_ins = ins

    def reopen(self) -> None:
        from kiosk.hardware.card.pcsc import PcscCardReader

        name = self.reader.reader_name
        self.reader.close()
        self.reader = PcscCardReader(reader=name, timeout=1.0)
        self.reader.open()

    def slow(self, seconds: float) -> None:
        self.vcard.delay = seconds

    def close(self) -> None:
        try:
            if self.vcard.is_inserted:
                self.remove()
        finally:
            self.reader.close()


class RealRig(Rig):
    hands = False

    def __init__(self) -> None:
        from kiosk.hardware.card.pcsc import PcscCardReader

        self.reader = PcscCardReader(reader=REAL_READER, timeout=5.0)
        self.reader.open()
        if self.reader.wait_for_card(timeout=30) is None:
            self.reader.close()
            pytest.fail(f"put a staff card into {self.reader.reader_name!r} (waited 30 s)")

    def load(self, card: PivCard) -> None:
        pytest.skip("a real card's contents cannot be chosen")

    def insert(self) -> None:
        pytest.skip("needs hands to insert the card")

    def remove(self) -> None:
        pytest.skip("needs hands to remove the card")

    def pull_on_ins(self, ins: int | None) -> None:
        pytest.skip("needs hands to pull the card mid-command")

    def reopen(self) -> None:
        from kiosk.hardware.card.pcsc import PcscCardReader

        self.reader.close()
        self.reader = PcscCardReader(reader=REAL_READER, timeout=5.0)
        self.reader.open()

    def slow(self, seconds: float) -> None:
        pytest.skip("a real card cannot be slowed down")


@pytest.fixture(params=["sim", "vcard", real_param(
    "real", named=bool(REAL_READER),
    reason="set KIOSK_HIL_PCSC_READER to a reader-name substring (and KIOSK_HIL_PCSC_PIN) to "
           "run against a real reader and staff card")])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from rig_for(request.param, {
        "sim": SimRig,
        "vcard": lambda: VcardRig(request.getfixturevalue("pcscd")),
        "real": RealRig,
    })


def _pin(rig: Rig) -> str:
    if rig.hands:
        return PIN
    pin = os.environ.get("KIOSK_HIL_PCSC_PIN")
    if not pin:
        pytest.skip("set KIOSK_HIL_PCSC_PIN to the real staff card's PIN")
    return pin


def _trust(rig: Rig) -> StaffTrust:
    """The CAs the rig's cards are checked against: the development CA for the simulated and
    virtual cards, the file ``KIOSK_HIL_PCSC_CA`` names for a real one."""
    if rig.hands:
        return StaffTrust.development()
    if not REAL_CA:
        pytest.skip("set KIOSK_HIL_PCSC_CA to the PEM of the CA that issued the real staff "
                    "card's PIV Authentication certificate")
    return StaffTrust.from_file(REAL_CA)


def login(rig: Rig, pin: str) -> StaffIdentity:
    """``staff_login`` as the kiosk calls it: the rig's trust, a synchronised clock."""
    return staff_login(rig.reader, pin, trust=_trust(rig), now=datetime.now(UTC))


def _wrong(pin: str) -> str:
    return "0" * len(pin) if pin != "0" * len(pin) else "1" * len(pin)


# -- the cases --------------------------------------------------------------------------------
def test_card_backend_is_a_card_reader(rig):
    assert isinstance(rig.reader, CardReader)


def test_card_selftest_reports_the_card_and_close_twice_is_safe(rig):
    ok, detail = rig.reader.selftest()
    assert ok and "card present" in detail
    rig.reader.close()
    rig.reader.close()
    assert rig.reader.closed
    rig.reader.open()  # the rig closes it again at the end


def test_card_second_concurrent_transmit_raises_device_busy(rig):
    reader = rig.reader
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with reader._exclusive("APDU exchange"):
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert inside.wait(5)
        with pytest.raises(DeviceBusy):
            reader.transmit(piv.select_apdu())
    finally:
        release.set()
        worker.join(5)
    assert reader.transmit(piv.select_apdu())[1:] == (0x90, 0x00)  # free again


def test_card_removed_is_not_found_and_back_in_starts_afresh_keeping_retries(rig):
    if not rig.hands:
        pytest.skip("needs hands to remove the card (and would spend a real PIN try)")
    reader = rig.reader
    select, status = piv.select_apdu(), piv.verify_apdu()
    assert reader.transmit(select)[1:] == (0x90, 0x00)
    assert reader.transmit(piv.verify_apdu(_wrong(PIN)))[1:] == (0x63, 0xC2)
    rig.remove()
    assert not reader.is_card_present
    with pytest.raises(DeviceNotFound):
        reader.transmit(select)
    assert reader.wait_for_card(timeout=0.05) is None
    rig.insert()
    assert reader.wait_for_card(timeout=0.05) is not None
    assert reader.transmit(status)[1:] == (0x69, 0x85)  # not selected any more
    assert reader.transmit(select)[1:] == (0x90, 0x00)
    assert reader.transmit(status)[1:] == (0x63, 0xC2)  # the wrong PIN still counts


def test_card_right_pin_logs_the_staff_member_in(rig):
    who = login(rig, _pin(rig))
    if rig.hands:
        assert who.staff_id == STAFF
    elif os.environ.get("KIOSK_HIL_PCSC_STAFF_ID"):
        assert who.staff_id == os.environ["KIOSK_HIL_PCSC_STAFF_ID"]
    assert who.atr[0] in (0x3B, 0x3F)  # TS: direct or inverse convention


def test_card_login_reads_the_chained_certificate_and_checks_the_signature(rig):
    if not rig.hands:
        pytest.skip("the simulated and virtual cards' 9A certificate is the development one")
    sent: list[bytes] = []
    transmit = rig.reader.transmit

    def spy(apdu: bytes) -> tuple[bytes, int, int]:
        sent.append(bytes(apdu))
        return transmit(apdu)

    rig.reader.transmit = spy  # type: ignore[method-assign]
    try:
        assert login(rig, PIN).staff_id == STAFF
    finally:
        del rig.reader.transmit
    headers = [apdu[:4].hex().upper() for apdu in sent]
    assert headers[:4] == ["00A40400", "00200080", "00CB3FFF", "00CB3FFF"]
    # the certificate object (440 bytes) comes in two pieces: the pcsc backend follows the
    # 61 XX itself, the simulated reader leaves it to staff_login (piv.transmit_chained)
    pieces = ["00C00000"] if isinstance(rig.reader, SimCardReader) else []
    assert headers[4:] == [*pieces, "0087119A"]


@pytest.mark.parametrize("fault", AUTH_FAULTS)
def test_card_that_cannot_prove_itself_is_refused_after_the_right_pin(rig, fault):
    if not rig.hands:
        pytest.skip("needs a card with a fault")
    rig.load(PivCard(pin=PIN, staff_id=STAFF, auth_fault=fault))
    with pytest.raises(CardNotTrusted) as refused:
        login(rig, PIN)
    assert refused.value.message("en") == "This card could not be checked. Ask an administrator."
    assert pin_retries_left(rig.reader) == 3  # the PIN was right: no try used


def test_card_expired_certificate_passes_when_the_clock_is_not_trusted(rig):
    if not rig.hands:
        pytest.skip("needs a card with an expired certificate")
    rig.load(PivCard(pin=PIN, staff_id=STAFF, auth_fault="expired"))
    who = staff_login(rig.reader, PIN, trust=_trust(rig), now=None)
    assert who.staff_id == STAFF


def test_card_login_without_trust_refuses_a_real_reader_before_any_apdu(rig):
    if isinstance(rig.reader, SimCardReader):  # its own card: the development CA
        assert staff_login(rig.reader, PIN).staff_id == STAFF
        return
    before = pin_retries_left(rig.reader)
    with pytest.raises(StaffLoginNotSetUp) as refused:
        staff_login(rig.reader, _wrong(_pin(rig)))
    assert "not set up" in refused.value.message("en")
    assert pin_retries_left(rig.reader) == before  # no PIN went to the card


def test_card_wrong_pin_shows_retries_left_counting_down(rig):
    pin = _pin(rig)
    before = pin_retries_left(rig.reader)
    assert before >= 2 or not rig.hands
    if before < 2:
        pytest.skip(f"the real card has only {before} tries left; not risking it")
    with pytest.raises(WrongPin) as first:
        login(rig, _wrong(pin))
    assert first.value.retries_left == before - 1
    assert f"Tries left: {before - 1}" in first.value.message("en")
    assert f"Sisa percobaan: {before - 1}" in first.value.message("id")
    assert pin_retries_left(rig.reader) == before - 1
    if rig.hands:
        with pytest.raises(WrongPin) as second:
            login(rig, _wrong(pin))
        assert second.value.retries_left == before - 2
    assert login(rig, pin).staff_id  # the right PIN resets the counter
    assert pin_retries_left(rig.reader) == before


def test_card_last_wrong_pin_blocks_it_for_good(rig):
    if not rig.hands:
        pytest.skip("would block a real staff card")
    rig.load(PivCard(pin=PIN, staff_id=STAFF, pin_retries=3, retries_left=1))
    with pytest.raises(PinBlocked) as blocked:
        login(rig, _wrong(PIN))
    assert blocked.value.retries_left == 0
    with pytest.raises(PinBlocked):
        login(rig, PIN)  # even the right PIN
    assert pin_retries_left(rig.reader) == 0


def test_card_blocked_from_the_start_refuses_the_right_pin(rig):
    if not rig.hands:
        pytest.skip("needs a blocked card")
    rig.load(PivCard(pin=PIN, staff_id=STAFF, retries_left=0))
    with pytest.raises(PinBlocked) as blocked:
        login(rig, PIN)
    assert "blocked" in blocked.value.message("en")


def test_card_pulled_mid_command_is_a_clear_error_not_a_hang(rig):
    rig.pull_on_ins(0x20)  # the card leaves when VERIFY arrives
    started = time.monotonic()
    with pytest.raises(CardRemoved) as removed:
        login(rig, PIN)
    assert time.monotonic() - started < 5.0
    assert isinstance(removed.value, DeviceNotFound)
    assert "removed" in str(removed.value) and "00 20" in str(removed.value)
    with pytest.raises(DeviceNotFound):  # and nothing pretends it is still there
        rig.reader.transmit(piv.select_apdu())


def test_card_back_in_after_a_pull_logs_in_again(rig):
    rig.pull_on_ins(0x20)
    with pytest.raises(CardRemoved):
        login(rig, PIN)
    rig.pull_on_ins(None)
    rig.insert()
    assert login(rig, PIN).staff_id == STAFF


def test_card_too_slow_times_out_then_recovers(rig):
    rig.slow(2.5)  # the vcard rig's reader allows 1 s per APDU
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="did not answer"):
        login(rig, PIN)
    assert time.monotonic() - started < 2.0
    rig.slow(0.0)
    with pytest.raises(DeviceTimeout, match="still has not answered"):
        login(rig, PIN)  # the stuck answer is not skipped over
    time.sleep(max(0.0, started + 2.7 - time.monotonic()))
    assert login(rig, PIN).staff_id == STAFF


def test_card_chuid_names_the_staff_member_without_a_pin(rig):
    staff_id = read_staff_id(rig.reader)
    if rig.hands:
        assert staff_id == STAFF
    else:
        assert staff_id


def test_card_without_piv_is_not_a_staff_card(rig):
    rig.load(PivCard(pin=PIN, staff_id=STAFF, piv_app=False))
    with pytest.raises(NotAStaffCard):
        login(rig, PIN)


def test_card_contactless_uid_comes_from_ff_ca(rig):
    rig.load(PivCard(pin=PIN, staff_id=STAFF, uid=UID))
    assert read_uid(rig.reader) == UID
    info = rig.reader.card_info()
    assert info.uid == UID
    assert info.atr.hex().upper().startswith("3B8F8001804F")  # PC/SC part 3 contactless


def test_card_contact_card_has_no_uid(rig):
    if not rig.hands:
        pytest.skip("a real contactless card answers FF CA")
    assert rig.reader.card_info().uid is None
    assert read_uid(rig.reader) is None


def test_card_presence_callbacks_fire_on_remove_and_insert(rig):
    got: dict[str, CardEvent] = {}
    fired = {"card_inserted": threading.Event(), "card_removed": threading.Event()}

    def record(event: CardEvent) -> None:
        got[event.kind] = event
        fired[event.kind].set()

    rig.reader.when_card_inserted = record
    rig.reader.when_card_removed = record
    rig.remove()
    assert fired["card_removed"].wait(EVENT_WAIT), "no when_card_removed"
    rig.insert()
    assert fired["card_inserted"].wait(EVENT_WAIT), "no when_card_inserted"
    assert got["card_inserted"].atr == rig.reader.card_info().atr


def test_card_already_in_the_reader_is_the_first_event(rig):
    """A card in the slot when the reader is opened is reported, as PC/SC's monitor does
    (its first status change from "unaware"): ``kiosk hw card watch`` starts by saying the
    card is there rather than nothing."""
    rig.reopen()
    first = next(iter(rig.reader.events(timeout=EVENT_WAIT)), None)
    assert first is not None, "no event for the card already in the reader"
    assert first.kind == "card_inserted", first
    assert first.atr == rig.reader.card_info().atr


def test_card_events_queue_reports_remove_and_insert(rig):
    for _ in rig.reader.events(timeout=0.3):  # drop what happened while setting up
        pass
    rig.remove()
    rig.insert()
    kinds = []
    for event in rig.reader.events(timeout=EVENT_WAIT):
        kinds.append(event.kind)
        if kinds[-2:] == ["card_removed", "card_inserted"]:
            break
    assert kinds[-2:] == ["card_removed", "card_inserted"]
