"""A virtual staff card served to a real ``pcscd`` through the vpcd reader driver.

The Debian package ``vsmartcard-vpcd`` installs a pcscd reader driver (``libifdvpcd.so``)
and ``/etc/reader.conf.d/vpcd``::

    FRIENDLYNAME "Virtual PCD"
    DEVICENAME   /dev/null:0x8C7B      <- base TCP port after the colon (0x8C7B = 35963)
    LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
    CHANNELID    0x8C7B

pcscd then shows readers ``Virtual PCD 00 00``, ``Virtual PCD 00 01`` (one per slot) and the
driver **listens** on TCP port base + slot (all interfaces). A virtual card **connects** to
that port: connected = inserted; closing the socket = pulled out. The driver notices on
its next presence poll (pcscd polls about every 0.4 s).

vpcd wire protocol (from vsmartcard's ``vpcd.c``): every message is a 2-byte big-endian
length and a payload. A 1-byte payload is a control message -- ``00`` power off, ``01``
power on, ``02`` reset (no answer to any of these), ``04`` "send your ATR" (answered with
the ATR). Any longer payload is a command APDU, answered with the response APDU. The
driver asks for the ATR on every presence poll.

The card behind the socket is a :class:`~kiosk.hardware.card.pivcard.PivCard`, so the bytes
are those of the simulated reader. Fault modes, settable while it runs:

* ``remove_on_ins = 0x20``: on receiving an APDU with that INS, close the socket without
  answering (the card pulled out mid-command);
* ``delay = 2.0``: answer every APDU that late (``delay_ins`` limits it to one INS);
* wrong / blocked PIN: the card's own retry counter (``PivCard(retries_left=0)`` is
  blocked from the start);
* a card that cannot prove itself: ``PivCard(auth_fault="other_ca")`` and the others of
  :data:`~kiosk.hardware.card.pivcard.AUTH_FAULTS` (``--auth-fault``).

Its slot-9A key and certificate are the development ones (:mod:`~kiosk.hardware.card.devca`):
a kiosk with ``type = "pcsc"`` accepts the card only if ``[staff] ca`` names the development
CA's certificate.

Standalone, for a maintainer with ``vsmartcard-vpcd`` installed::

    python -m kiosk.hardware.card.vcard --port 35963 --pin 123456 --staff-id STAFF-0001

Example in a test::

    with VirtualCard(PivCard(pin="123456"), port=base_port) as card:   # inserted
        ...
        card.remove()
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import struct
import sys
import threading
import time

from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.hardware.card.pivcard import AUTH_FAULTS, CARD_OPTIONS, PivCard

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.card")  # APDU headers and status words, never data

DEFAULT_PORT = 0x8C7B  # 35963, vpcd's default base port

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04

__all__ = ["DEFAULT_PORT", "VirtualCard", "main"]


class VirtualCard:
    """A :class:`PivCard` plugged into a vpcd slot over TCP; see the module docstring."""

    def __init__(self, card: PivCard | None = None, *, port: int = DEFAULT_PORT,
                 host: str = "127.0.0.1", remove_on_ins: int | None = None,
                 delay: float = 0.0, delay_ins: int | None = None) -> None:
        self.card = card if card is not None else PivCard()
        self.host = host
        self.port = port
        self.remove_on_ins = remove_on_ins
        self.delay = delay
        self.delay_ins = delay_ins
        self.apdus_seen = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pulled = threading.Event()  # set when the card leaves: wakes a slow answer

    # -- insert / remove ------------------------------------------------------------------
    @property
    def is_inserted(self) -> bool:
        """True while the card's socket to vpcd is open."""
        return self._sock is not None

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd (retrying until ``timeout``) and start answering."""
        if self._sock is not None:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"vpcd is not listening on {self.host}:"
                                          f"{self.port} ({exc}); is pcscd running with "
                                          f"the vpcd reader configured?") from exc
                time.sleep(0.1)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pulled.clear()
        self.card.power_cycle()
        with self._lock:
            self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name=f"vcard-{self.port}")
        self._thread.start()
        log.info("virtual card inserted into vpcd port %d", self.port)

    def remove(self) -> None:
        """Pull the card out: close the socket. Safe to call when not inserted."""
        self._drop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self._thread = None

    def close(self) -> None:
        self.remove()

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_removed(self, timeout: float | None) -> bool:
        """Block until the card has left (a fault mode or ``remove``); False on timeout."""
        return self._pulled.wait(timeout)

    def _drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        self._pulled.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the serving thread's recv
            sock.close()
            self.card.power_cycle()
            log.info("virtual card removed from vpcd port %d", self.port)

    # -- the protocol ---------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                message = _recv_message(sock)
                if message is None:  # vpcd closed the connection (pcscd stopped)
                    break
                reply = self._handle(message)
                if reply is None:
                    continue
                if self._sock is not sock:  # removed while answering
                    break
                sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError as exc:
            if self._sock is sock:
                log.warning("virtual card on port %d: connection lost: %s", self.port, exc)
        finally:
            if self._sock is sock:
                self._drop()

    def _handle(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            ctrl = message[0]
            if ctrl == CTRL_ATR:
                return self.card.atr
            if ctrl in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                self.card.power_cycle()
                return None
            log.warning("virtual card: unknown vpcd control byte %02X", ctrl)
            return None
        ins = message[1] if len(message) > 1 else -1
        self.apdus_seen += 1
        if self.remove_on_ins is not None and ins == self.remove_on_ins:
            wire.debug("> %s  (card pulled out mid-command)", message[:4].hex(" "))
            self._drop()
            return None
        slow = self.delay > 0 and (self.delay_ins is None or self.delay_ins == ins)
        if slow and self._pulled.wait(self.delay):  # pulled out while "thinking"
            return None
        response = self.card.answer(message)
        wire.debug("> %s  < %d bytes %s", message[:4].hex(" "), len(response) - 2,
                   response[-2:].hex(" "))
        return response


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv_message(sock: socket.socket) -> bytes | None:
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _recv_exact(sock, length) if length else b""


def main(argv: list[str] | None = None) -> int:
    """Serve one virtual staff card to vpcd until interrupted (re-inserting if dropped)."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.hardware.card.vcard",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="vpcd slot port (base port + slot number)")
    parser.add_argument("--pin", default=CARD_OPTIONS["pin"].default)
    parser.add_argument("--staff-id", default=CARD_OPTIONS["staff_id"].default)
    parser.add_argument("--retries", type=int, default=CARD_OPTIONS["pin_retries"].default,
                        help="PIN tries before blocking")
    parser.add_argument("--retries-left", type=int, default=None,
                        help="start with this many tries left (0: blocked)")
    parser.add_argument("--uid", default="", help="hex UID: a contactless citizen card")
    parser.add_argument("--no-piv", action="store_true", help="no PIV application")
    parser.add_argument("--auth-fault", choices=AUTH_FAULTS, default=None,
                        help="a card that cannot prove itself (PIV Authentication)")
    parser.add_argument("--remove-on-ins", default=None,
                        help="hex INS on which the card is pulled out, e.g. 20")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    card = PivCard(pin=args.pin, staff_id=args.staff_id, pin_retries=args.retries,
                   retries_left=args.retries_left, piv_app=not args.no_piv,
                   uid=bytes.fromhex(args.uid) if args.uid else None,
                   auth_fault=args.auth_fault)
    vcard = VirtualCard(card, host=args.host, port=args.port, delay=args.delay,
                        remove_on_ins=(int(args.remove_on_ins, 16)
                                       if args.remove_on_ins else None))
    try:
        while True:
            vcard.insert(timeout=3600.0)
            vcard.wait_removed(timeout=None)
            time.sleep(1.0)
    except KeyboardInterrupt:
        return EXIT_OK
    except ConnectionError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAIL
    finally:
        vcard.close()


if __name__ == "__main__":
    raise SystemExit(main())
