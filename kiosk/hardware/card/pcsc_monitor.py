"""The PC/SC reader's presence monitor: the thread that turns pcscd state changes into events.

:class:`PresenceMonitor` is mixed into :class:`~kiosk.hardware.card.pcsc.PcscCardReader`,
whose ``_open`` starts ``_watch`` on a daemon thread named ``pcsc-monitor`` with its own
PC/SC context (``_monitor_ctx``) and whose ``_close`` sets ``_stop`` and cancels that
context. The loop blocks in ``SCardGetStatusChange`` (with pcsc-lite's PnP pseudo-reader, to
see readers come and go; by polling where that is missing) and emits ``card_inserted``,
``card_removed``, ``reader_added`` and ``reader_removed``
:class:`~kiosk.hardware.card.base.CardEvent` s **on this thread**. pyscard is never imported
here: the reader hands over its ``_scard`` module.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kiosk.errors import DeviceError
from kiosk.hardware.card.base import CardEvent

log = logging.getLogger(__name__)

#: pcsc-lite's pseudo-reader that changes state when readers come and go.
PNP_READER = "\\\\?PnP?\\Notification"

__all__ = ["PNP_READER", "PresenceMonitor"]


class PresenceMonitor:
    """The monitor thread's body, for :class:`~kiosk.hardware.card.pcsc.PcscCardReader`.

    Uses the reader's ``_scard``, ``_monitor_ctx``, ``_stop`` and ``reader_name`` (updated
    when the reader comes back), its ``_pick``, ``_list_readers`` and ``_message``, and
    :meth:`~kiosk.hardware.card.base.CardReader._emit`.
    """

    _scard: Any
    _monitor_ctx: Any
    _stop: threading.Event
    reader_name: str

    def _watch(self) -> None:
        try:
            self._watch_loop()
        except Exception:
            log.exception("PC/SC monitor thread failed; no more card events")
        finally:
            if self._monitor_ctx is not None:
                self._scard.SCardReleaseContext(self._monitor_ctx)
                self._monitor_ctx = None

    def _watch_loop(self) -> None:
        s = self._scard
        ctx = self._monitor_ctx
        name: str | None = self.reader_name
        known = {PNP_READER: s.SCARD_STATE_UNAWARE, name: s.SCARD_STATE_UNAWARE}
        card = False
        use_pnp = True
        while not self._stop.is_set():
            if name is None:  # our reader is gone: is it back?
                try:
                    name = self._pick(self._list_readers(ctx))
                except DeviceError:
                    name = None
                if name is not None:
                    self.reader_name = name
                    known[name] = s.SCARD_STATE_UNAWARE
                    self._emit(CardEvent("reader_added", name))
            query = [(r, st) for r, st in known.items() if r != PNP_READER or use_pnp]
            hr, states = s.SCardGetStatusChange(ctx, 1000 if use_pnp or name else 500, query)
            if hr in (s.SCARD_E_TIMEOUT, s.SCARD_E_CANCELLED):
                continue
            if hr in (s.SCARD_E_NO_SERVICE, s.SCARD_E_SERVICE_STOPPED):
                log.error("PC/SC monitor: pcscd stopped; no more card events")
                if name is not None:
                    if card:
                        self._emit(CardEvent("card_removed", name))
                    self._emit(CardEvent("reader_removed", name))
                return
            if hr != s.SCARD_S_SUCCESS:
                if use_pnp:  # a pcscd without PnP notification: poll instead
                    use_pnp = False
                    continue
                log.warning("PC/SC monitor: %s", self._message(hr))
                self._stop.wait(0.5)
                continue
            for reader, state, atr in states:
                known[reader] = state & ~s.SCARD_STATE_CHANGED
                if reader == PNP_READER:
                    continue
                if state & (s.SCARD_STATE_UNKNOWN | s.SCARD_STATE_UNAVAILABLE):
                    del known[reader]
                    if card:
                        card = False
                        self._emit(CardEvent("card_removed", reader))
                    self._emit(CardEvent("reader_removed", reader))
                    name = None
                    continue
                now = bool(state & s.SCARD_STATE_PRESENT) and not state & s.SCARD_STATE_MUTE
                if now and not card:
                    self._emit(CardEvent("card_inserted", reader, bytes(atr)))
                elif card and not now:
                    self._emit(CardEvent("card_removed", reader))
                card = now
