"""The real smart-card reader: PC/SC through pcscd, with pyscard's low-level API.

``smartcard`` (pyscard) is imported only here, inside ``_open``, so the simulated kiosk
runs without it. The presence monitor thread's loop is in
:mod:`~kiosk.hardware.card.pcsc_monitor`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from kiosk.errors import (
    DeviceBusy,
    DeviceError,
    DeviceNotFound,
    DeviceProtocolError,
    DeviceTimeout,
)
from kiosk.hardware.base import Options
from kiosk.hardware.card.base import CardInfo, CardReader
from kiosk.hardware.card.errors import CardRemoved
from kiosk.hardware.card.pcsc_monitor import PNP_READER, PresenceMonitor
from kiosk.options import Number, String

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.card")  # APDU headers and status words only

T = TypeVar("T")

GET_UID = bytes.fromhex("FFCA000000")  # PC/SC part 3 GET DATA: the contactless UID

__all__ = ["PNP_READER", "PcscCardReader"]


def _load_scard() -> Any:
    """pyscard's low-level module (a seam: unit tests put a fake here)."""
    from smartcard import scard

    return scard


class PcscCardReader(PresenceMonitor, CardReader):
    """A PC/SC reader (a USB CCID reader, or vpcd's virtual one) through ``pcscd``.

    Needs ``pcscd`` running (Debian: ``apt-get install pcscd``; it starts on demand through
    ``pcscd.socket``) and a CCID reader on USB (driver: ``libccid``). Config::

        [hardware.card]
        type = "pcsc"
        reader = "ACS"        # substring of the reader name; "" = the first reader
        timeout = 5.0         # seconds one APDU may take before DeviceTimeout

    The card is connected shared (T=0 or T=1) on first use. ``61 xx`` (GET RESPONSE) and
    ``6C xx`` (wrong Le) are handled here, so callers see whole answers. Errors: no reader
    or no pcscd -> :class:`~kiosk.errors.DeviceNotFound` naming the readers seen; card
    pulled before or during a command ->
    :class:`~kiosk.hardware.card.errors.CardRemoved`; a card that does not answer within
    ``timeout`` -> :class:`~kiosk.errors.DeviceTimeout` (the next command waits for the
    stuck one); another program holding the card exclusively ->
    :class:`~kiosk.errors.DeviceBusy`.

    A monitor thread (its own PC/SC context, blocked in ``SCardGetStatusChange``; its body is
    :class:`~kiosk.hardware.card.pcsc_monitor.PresenceMonitor`) reports reader and card events
    to ``when_card_inserted`` / ``when_card_removed`` **on that thread** and to
    :meth:`events`; see :class:`CardReader`. Example::

        with PcscCardReader(reader="Virtual PCD 00 00") as reader:
            reader.when_card_removed = lambda e: bridge.post(screen.logout)
            if reader.wait_for_card(timeout=30):
                who = staff_login(reader, pin)
    """

    OPTIONS: ClassVar[Options] = {
        "reader": String("", description="a part of the reader's name (\"\": the first)"),
        "timeout": Number(5.0, above=0, maximum=300, allowed="a number from 0 to 300",
                          description="seconds for one exchange with the card"),
    }

    #: How long after a failed exchange to wait for pcscd to see the card gone (it polls
    #: serial/virtual readers every 0.4 s).
    removal_grace: float = 1.5

    def __init__(self, *, reader: str = OPTIONS["reader"].default,
                 timeout: float = OPTIONS["timeout"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self.reader_filter = reader
        self.timeout = float(timeout)
        self.reader_name = ""
        self._scard: Any = None
        self._ctx: Any = None  # connect/transmit, used on the I/O thread only
        self._query_ctx: Any = None  # presence queries from the caller's thread
        self._query_lock = threading.Lock()
        self._hcard: Any = None
        self._protocol = 0
        self._io: concurrent.futures.ThreadPoolExecutor | None = None
        self._stuck: concurrent.futures.Future[Any] | None = None
        self._monitor: threading.Thread | None = None
        self._monitor_ctx: Any = None
        self._stop = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            scard = _load_scard()
        except ImportError as exc:
            raise DeviceNotFound("hardware.card.type = 'pcsc' needs pyscard (pip install "
                                 "pyscard) and libpcsclite1") from exc
        self._scard = scard
        ctx = self._establish()
        try:
            readers = self._list_readers(ctx)
            self.reader_name = self._pick(readers)
            self._query_ctx = self._establish()
            self._monitor_ctx = self._establish()
        except BaseException:
            for c in (self._query_ctx, ctx):
                if c is not None:
                    scard.SCardReleaseContext(c)
            self._query_ctx = None
            raise
        self._ctx = ctx
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pcsc-io")
        self._stuck = None
        self._stop.clear()
        self._monitor = threading.Thread(target=self._watch, name="pcsc-monitor", daemon=True)
        self._monitor.start()
        log.info("PC/SC reader %r opened", self.reader_name)

    def _close(self) -> None:
        scard = self._scard
        self._stop.set()
        if self._monitor_ctx is not None:
            scard.SCardCancel(self._monitor_ctx)  # wakes SCardGetStatusChange
        if self._monitor is not None:
            self._monitor.join(timeout=3.0)
            self._monitor = None
        io, self._io = self._io, None
        if io is not None:
            def release() -> None:
                if self._hcard is not None:
                    scard.SCardDisconnect(self._hcard, scard.SCARD_LEAVE_CARD)
                    self._hcard = None
                scard.SCardReleaseContext(self._ctx)

            # Behind a stuck transmit this waits for it; never block close() on a mute card.
            done = io.submit(release)
            try:
                done.result(timeout=2.0)
            except concurrent.futures.TimeoutError:
                log.warning("PC/SC: a command is still stuck; releasing the context later")
            except Exception as exc:
                log.warning("PC/SC: release failed: %s", exc)
            io.shutdown(wait=False)
        with self._query_lock:
            if self._query_ctx is not None:
                scard.SCardReleaseContext(self._query_ctx)
                self._query_ctx = None

    def _selftest(self) -> tuple[bool, str]:
        state = "card present" if self.is_card_present else "no card"
        return True, f"PC/SC reader {self.reader_name!r}, {state}"

    # -- pcsc helpers ---------------------------------------------------------------------
    def _establish(self) -> Any:
        scard = self._scard
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            raise DeviceNotFound(f"cannot reach pcscd ({self._message(hr)}); is it installed "
                                 "and running? (apt-get install pcscd)")
        return ctx

    def _list_readers(self, ctx: Any) -> list[str]:
        scard = self._scard
        hr, readers = scard.SCardListReaders(ctx, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != scard.SCARD_S_SUCCESS:
            raise self._error(hr, "listing readers")
        return list(readers)

    def _pick(self, readers: list[str]) -> str:
        for name in readers:
            if self.reader_filter in name:
                return name
        want = f"a reader whose name contains {self.reader_filter!r}" if self.reader_filter \
            else "a smart-card reader"
        seen = ", ".join(repr(r) for r in readers) or "none"
        raise DeviceNotFound(f"no {want}; readers seen: {seen}. Is the reader plugged in? "
                             f"(hardware.card.reader selects one)")

    def _message(self, hr: int) -> str:
        try:
            return str(self._scard.SCardGetErrorMessage(hr)).strip().rstrip(".")
        except Exception:  # a fake or an unknown code
            return f"PC/SC error {hr & 0xFFFFFFFF:#010x}"

    def _error(self, hr: int, what: str) -> DeviceError:
        """The kiosk exception for a PC/SC return code."""
        s = self._scard
        code = f"{self._message(hr)} ({hr & 0xFFFFFFFF:#010x})"
        if hr in (s.SCARD_W_REMOVED_CARD,):
            return CardRemoved(self.reader_name, what)
        if hr == s.SCARD_E_NO_SMARTCARD:
            return DeviceNotFound(f"no card in {self.reader_name!r} ({what})")
        if hr == s.SCARD_E_TIMEOUT:
            return DeviceTimeout(f"{what}: PC/SC timeout: {code}")
        if hr == s.SCARD_E_SHARING_VIOLATION:
            return DeviceBusy(f"another program holds the card in {self.reader_name!r} "
                              f"exclusively ({what})")
        if hr in (s.SCARD_E_NO_SERVICE, s.SCARD_E_SERVICE_STOPPED):
            return DeviceNotFound(f"pcscd is not running ({what}): {code}")
        if hr in (s.SCARD_E_UNKNOWN_READER, s.SCARD_E_READER_UNAVAILABLE,
                  s.SCARD_E_NO_READERS_AVAILABLE):
            return DeviceNotFound(f"reader {self.reader_name!r} is gone ({what}): {code}")
        if hr in (s.SCARD_W_UNRESPONSIVE_CARD, s.SCARD_W_UNPOWERED_CARD):
            return DeviceError(f"the card in {self.reader_name!r} does not answer; is it "
                               f"inserted the right way round? ({what}): {code}")
        return DeviceProtocolError(f"{what} failed: {code}")

    def _run(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on the I/O thread, waiting at most ``timeout`` seconds."""
        self._check_open()
        io = self._io
        if io is None:
            raise DeviceError("PcscCardReader is closed")
        stuck = self._stuck
        if stuck is not None:
            try:
                stuck.result(timeout=self.timeout)
            except concurrent.futures.TimeoutError:
                raise DeviceTimeout(f"the card in {self.reader_name!r} still has not answered "
                                    f"an earlier command; remove and insert it") from None
            except Exception as exc:  # already reported to its caller as a timeout
                log.info("PC/SC: the stuck command ended with %s", type(exc).__name__)
            self._stuck = None
        future = io.submit(fn)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            self._stuck = future
            raise DeviceTimeout(f"the card in {self.reader_name!r} did not answer {what} "
                                f"within {self.timeout:g} s") from None

    def _connect(self, *, fresh: bool) -> None:
        """Connect to the card (I/O thread). ``fresh``: replace a handle a swap made stale."""
        s = self._scard
        if self._hcard is not None and fresh:
            hr, *_ = s.SCardStatus(self._hcard)
            if hr != s.SCARD_S_SUCCESS:
                self._disconnect()
        if self._hcard is None:
            hr, hcard, protocol = s.SCardConnect(
                self._ctx, self.reader_name, s.SCARD_SHARE_SHARED,
                s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
            if hr != s.SCARD_S_SUCCESS:
                raise self._error(hr, "connecting to the card")
            self._hcard, self._protocol = hcard, protocol

    def _disconnect(self) -> None:
        if self._hcard is not None:
            self._scard.SCardDisconnect(self._hcard, self._scard.SCARD_LEAVE_CARD)
            self._hcard = None

    def _present_now(self) -> bool:
        s = self._scard
        with self._query_lock:
            if self._query_ctx is None:
                raise DeviceError("PcscCardReader is closed")
            hr, states = s.SCardGetStatusChange(self._query_ctx, 0,
                                                [(self.reader_name, s.SCARD_STATE_UNAWARE)])
        if hr != s.SCARD_S_SUCCESS:
            raise self._error(hr, "reading the reader state")
        state = states[0][1]
        return bool(state & s.SCARD_STATE_PRESENT) and not state & s.SCARD_STATE_MUTE

    def _gone_after_failure(self) -> bool:
        """After a broken exchange: has the card left? (pcscd may need a poll to see it.)"""
        deadline = time.monotonic() + self.removal_grace
        while True:
            try:
                if not self._present_now():
                    return True
            except DeviceNotFound:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    # -- the CardReader API ---------------------------------------------------------------
    @property
    def is_card_present(self) -> bool:
        self._check_open()
        return self._present_now()

    def card_info(self) -> CardInfo:
        """ATR of the card, and its UID when the reader answers FF CA (contactless)."""
        self._check_open()
        s = self._scard

        def info() -> CardInfo:
            self._connect(fresh=True)
            hr, _reader, _state, _protocol, atr = s.SCardStatus(self._hcard)
            if hr != s.SCARD_S_SUCCESS:
                self._disconnect()
                raise self._error(hr, "reading the ATR")
            data, sw1, sw2 = self._exchange(GET_UID)
            uid = data if (sw1, sw2) == (0x90, 0x00) and data else None
            return CardInfo(atr=bytes(atr), uid=uid)

        with self._exclusive("APDU exchange"):
            return self._run(info, "ATR/UID")

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        apdu = bytes(apdu)
        what = f"APDU {apdu[:2].hex(' ').upper()}" if len(apdu) >= 2 else "APDU"

        def io() -> tuple[bytes, int, int]:
            self._connect(fresh=False)
            return self._exchange(apdu)

        with self._exclusive("APDU exchange"):
            return self._run(io, what)

    def _exchange(self, apdu: bytes) -> tuple[bytes, int, int]:
        """One command with GET RESPONSE / Le correction (I/O thread, connected)."""
        data, sw1, sw2 = self._transmit_once(apdu)
        if sw1 == 0x6C and len(apdu) >= 5:  # wrong Le: send again with the exact one
            data, sw1, sw2 = self._transmit_once(apdu[:-1] + bytes([sw2]) if len(apdu) > 5
                                                 else apdu[:4] + bytes([sw2]))
        chunks = [data]
        for _ in range(64):  # 61 xx: more data waits; GET RESPONSE fetches it
            if sw1 != 0x61:
                break
            data, sw1, sw2 = self._transmit_once(bytes([apdu[0] & 0x03, 0xC0, 0, 0, sw2]))
            chunks.append(data)
        return b"".join(chunks), sw1, sw2

    def _transmit_once(self, apdu: bytes) -> tuple[bytes, int, int]:
        s = self._scard
        what = f"APDU {apdu[:2].hex(' ').upper()}"
        hr, response = s.SCardTransmit(self._hcard, self._protocol, list(apdu))
        if hr == s.SCARD_S_SUCCESS and len(response) >= 2:
            wire.debug("> %s  < %d bytes %02X %02X", apdu[:4].hex(" "), len(response) - 2,
                       response[-2], response[-1])
            return bytes(response[:-2]), response[-2], response[-1]
        # The exchange broke. vpcd answers nothing when the card goes mid-command; a real
        # reader says SCARD_W_REMOVED_CARD or SCARD_E_NOT_TRANSACTED. Ask pcscd.
        wire.debug("> %s  < broken (%#010x, %d bytes)", apdu[:4].hex(" "),
                   hr & 0xFFFFFFFF, len(response))
        self._disconnect()
        if hr in (s.SCARD_W_REMOVED_CARD, s.SCARD_E_NO_SMARTCARD) or self._gone_after_failure():
            raise CardRemoved(self.reader_name, what)
        if hr == s.SCARD_S_SUCCESS:
            raise DeviceProtocolError(f"{what}: the card answered {len(response)} bytes, "
                                      "no status word")
        raise self._error(hr, what)
