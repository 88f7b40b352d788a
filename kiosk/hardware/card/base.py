"""The smart-card reader the staff login sees."""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from kiosk.hardware.base import Device

__all__ = ["CardEvent", "CardInfo", "CardReader", "EventCallback"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardInfo:
    """A card in the reader: its Answer-To-Reset and, for contactless cards, its UID."""

    atr: bytes
    uid: bytes | None = None


EventKind = Literal["reader_added", "reader_removed", "card_inserted", "card_removed"]


@dataclass(frozen=True)
class CardEvent:
    """One presence event: a reader came or went, a card was inserted or removed.

    ``atr`` is the card's Answer-To-Reset on ``card_inserted`` (None otherwise).
    """

    kind: EventKind
    reader: str
    atr: bytes | None = None


#: A ``when_*`` callback: called with the event, from the reader's monitor thread.
EventCallback = Callable[[CardEvent], object]


class CardReader(Device):
    """A PC/SC-style reader holding a staff card; exchanges APDUs with it.

    ``transmit`` takes one command APDU and returns ``(data, sw1, sw2)``, like pyscard's
    ``connection.transmit``. The staff-login protocol (SELECT the PIV application, VERIFY
    the PIN, GET DATA the CHUID) lives in :mod:`kiosk.hardware.card.piv`, so the same bytes
    go to the simulated card and to a real one. The pcsc backend
    (:mod:`kiosk.hardware.card.pcsc`) needs ``pcscd`` running and a CCID reader on USB; it
    imports ``smartcard`` inside ``_open`` only.

    ``transmit`` raises :class:`~kiosk.errors.DeviceNotFound` when no card is in the reader
    and :class:`~kiosk.errors.DeviceBusy` while another exchange is running. Example::

        with create_device("card", {"type": "sim"}) as reader:
            if reader.wait_for_card(timeout=30) is not None:
                data, sw1, sw2 = reader.transmit(piv.select_apdu())

    Presence events: set ``when_card_inserted`` / ``when_card_removed`` to a callable taking
    one :class:`CardEvent`. **They run on the reader's monitor thread** (pcsc) or on the
    thread that moved the card (sim), never on the UI thread: a Kivy screen must hand
    them to the UI through the app's bridge (queue + ``Clock`` trigger) and never touch a
    widget from the callback. A callback that raises is logged and ignored. The
    thread-safe alternative is :meth:`events`, which yields the same events (also
    ``reader_added``/``reader_removed``) to whichever thread iterates it::

        reader.when_card_removed = lambda event: bridge.post(screen.on_card_removed)
        for event in reader.events(timeout=10):
            print(event.kind, event.reader)
    """

    SECTION: ClassVar[str] = "hardware.card"

    #: How often ``wait_for_card`` polls the reader, in seconds.
    poll_interval: float = 0.05
    #: Events kept for :meth:`events` before the oldest are dropped.
    event_backlog: int = 64

    def __init__(self) -> None:
        super().__init__()
        self.when_card_inserted: EventCallback | None = None
        self.when_card_removed: EventCallback | None = None
        self._events: queue.Queue[CardEvent] = queue.Queue(maxsize=self.event_backlog)

    def events(self, timeout: float | None = None) -> Iterator[CardEvent]:
        """Yield presence events as they happen, until ``timeout`` seconds have passed.

        Events that happened since the reader was created (and not yet taken, up to
        ``event_backlog``) come first. ``timeout=None`` waits for ever (until the reader
        is closed); stop iterating to stop waiting. Safe to use from any one thread.
        """
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                return
            try:
                yield self._events.get(timeout=wait)
            except queue.Empty:
                continue

    def _emit(self, event: CardEvent) -> None:
        """Backends call this on every presence change (from any thread)."""
        log.debug("card event %s on %r", event.kind, event.reader)
        while True:
            try:
                self._events.put_nowait(event)
                break
            except queue.Full:  # nobody reads events(): drop the oldest
                with contextlib.suppress(queue.Empty):
                    self._events.get_nowait()
        callback = {"card_inserted": self.when_card_inserted,
                    "card_removed": self.when_card_removed}.get(event.kind)
        if callback is not None:
            try:
                callback(event)
            except Exception:
                log.exception("card %s callback failed", event.kind)

    @property
    def is_card_present(self) -> bool:
        """True while a card sits in the reader."""
        raise NotImplementedError

    def card_info(self) -> CardInfo:
        """ATR (and UID) of the card in the reader; DeviceNotFound without one."""
        raise NotImplementedError

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one command APDU; return the response data and the status word."""
        raise NotImplementedError

    def wait_for_card(self, timeout: float | None = None) -> CardInfo | None:
        """Block until a card is inserted; its CardInfo, or None after ``timeout`` seconds."""
        if not self._poll_until(lambda: self.is_card_present, timeout, self.poll_interval):
            return None
        return self.card_info()
