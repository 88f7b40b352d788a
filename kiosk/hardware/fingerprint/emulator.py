"""A ZFM fingerprint sensor emulated byte for byte on a pseudo-terminal, with faults on demand.

The emulator owns the master end of a pty (``os.openpty``); the driver opens the slave path
with pyserial exactly as it opens ``/dev/ttyAMA0``. With ``link`` the slave is also reachable
through a stable symlink, which is what makes an unplug testable: on a ``drop`` the emulator
closes the pty (the driver's next read fails with EIO, as with a pulled USB adapter),
removes the link, and after ``drop_s`` seconds makes a new pty and points the link at it.
Like a real module after power-up it then sends a lone ``0x55``.

The sensor itself (commands, images, counters) is
:class:`~kiosk.hardware.fingerprint.emulator_sensor.ZfmSensor`; the faults and the
``--fault`` syntax are in :mod:`~kiosk.hardware.fingerprint.emulator_faults`; the standalone
program is :mod:`~kiosk.hardware.fingerprint.emulator_cli`, beside this module: it imports
the emulator, never the other way round (``python -m`` on this module runs it).

Standalone, for ``kiosk demo`` or a maintainer::

    python -m kiosk.hardware.fingerprint.emulator --link /tmp/fp0 [--fault drop-every=10]
    # kiosk.toml: [hardware.fingerprint]  type = "zfm"  port = "/tmp/fp0"

In tests::

    with FingerprintEmulator(link=tmp_path / "fp0") as emu:
        with ZfmFingerprint(port=emu.port, timeout_s=0.3) as scanner:
            assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
import tty
from pathlib import Path

from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator_faults import Drop, Faults, Stall, parse_fault
from kiosk.hardware.fingerprint.emulator_sensor import ImageSource, ZfmSensor

__all__ = ["Faults", "FingerprintEmulator", "ImageSource", "parse_fault"]

log = logging.getLogger(__name__)

_CHUNK = 64  # bytes per write when throttled: ~5.6 ms at 115200 baud


class FingerprintEmulator(ZfmSensor):
    """A ZFM sensor on a pty: VfyPwd, ReadSysPara, GenImg, Img2Tz, UpImage, UpChar and
    AuraLedConfig, with fault injection. ``port`` is the path the driver opens."""

    def __init__(self, *, link: str | Path | None = None, images: ImageSource = None,
                 seed: int = 0, faults: Faults | None = None,
                 address: int = zp.DEFAULT_ADDRESS, password: int = zp.DEFAULT_PASSWORD,
                 packet_size: int = zp.DEFAULT_PACKET_SIZE,
                 baudrate: int = zp.DEFAULT_BAUDRATE, throttle: bool = False,
                 library_size: int = 1000,
                 security_level: int = zp.DEFAULT_SECURITY_LEVEL) -> None:
        super().__init__(images=images, seed=seed, faults=faults, address=address,
                         password=password, packet_size=packet_size, baudrate=baudrate,
                         throttle=throttle, library_size=library_size,
                         security_level=security_level)
        self.link = Path(link) if link is not None else None
        self.drops = 0
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_path = ""
        self._reopen_at: float | None = None
        self._unplug: float | None = None  # requested by unplug(): seconds away, -1 for good
        self._parser = zp.PacketParser()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The path the driver opens: the link, else the current slave device."""
        return str(self.link) if self.link is not None else self.slave_path

    def start(self) -> str:
        """Create the pty, start serving in a thread; return :attr:`port`."""
        if self._thread is not None:
            return self.port
        self._make_pty(power_on=False)
        self._thread = threading.Thread(target=self._run, name="fp-emulator", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving, close the pty, remove the link. Safe to call twice."""
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> FingerprintEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, **changes: int | bool | float) -> None:
        """Change faults at run time: ``emu.inject(stall=1)``."""
        with self._lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self.faults, name, value)
                if name == "no_finger":
                    self._polls_left = int(value)
        self._wake()

    def unplug(self, for_s: float | None = 0.3) -> None:
        """Pull the cable now (between commands): back after ``for_s`` s, never if None."""
        with self._lock:
            self._unplug = -1.0 if for_s is None else float(for_s)
        self._wake()

    def plug_in(self) -> None:
        """Put back a cable pulled for good (a ``disconnect``, ``unplug(None)``): the
        sensor powers up on a new pty at once. Nothing while the line is up."""
        with self._lock:
            if self._master is None:
                self._reopen_at = time.monotonic()
        self._wake()

    # -- the pty ---------------------------------------------------------------------------------
    def _make_pty(self, *, power_on: bool) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no XON/XOFF: a plain 8-bit line
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(self.slave_path, tmp)
            os.replace(tmp, self.link)
        self._parser.clear()
        self._power_up(handshake=power_on)
        log.info("fingerprint emulator on %s%s", self.slave_path,
                 f" (link {self.link})" if self.link else "")

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink():
                    self.link.unlink()

    def _drop(self, forever: bool) -> None:
        self.drops += 1
        log.info("fingerprint emulator: line dropped%s", " for good" if forever else "")
        self._close_pty()
        self._reopen_at = None if forever else time.monotonic() + self.faults.drop_s

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the loop --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping:
                self._step()
        except Exception:  # a crash must show in the test log, not vanish with the thread
            log.exception("fingerprint emulator crashed")
            self._close_pty()

    def _step(self) -> None:
        now = time.monotonic()
        with self._lock:
            unplug, self._unplug = self._unplug, None
        if unplug is not None and self._master is not None:
            self._drop(forever=unplug < 0)
            if unplug >= 0:
                self._reopen_at = now + unplug
            return
        if self._master is None:
            if self._reopen_at is not None and now >= self._reopen_at:
                self._reopen_at = None
                self._make_pty(power_on=True)
                return
            wait = 0.5 if self._reopen_at is None else max(0.0, self._reopen_at - now)
            select.select([self._wake_r], [], [], wait)
            self._drain_wake()
            return
        timeout = 0.5
        writers: list[int] = []
        if self._out:
            if isinstance(self._out[0], Drop | Stall):
                self._marker(self._out.popleft())
                return
            if self.throttle and self._wire_free > now:
                timeout = self._wire_free - now
            else:
                writers = [self._master]
        readable, writable, _ = select.select([self._master, self._wake_r], writers, [],
                                              timeout)
        if self._wake_r in readable:
            self._drain_wake()
        if self._master is not None and self._master in readable:
            self._receive()
        if self._master is not None and writable and self._out:
            self._transmit()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._wake_r, 4096)

    def _marker(self, marker: Drop | Stall) -> None:
        if isinstance(marker, Drop):
            self._drop(marker.forever)
        else:
            log.info("fingerprint emulator: upload stalled")
            self._out.clear()

    def _receive(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return
            if exc.errno == errno.EIO:  # no process has the slave open: nothing to read
                time.sleep(0.01)
                return
            raise
        self._parser.feed(data)
        while True:
            try:
                packet = self._parser.next_packet()
            except zp.ChecksumMismatch:
                self._reply(zp.ERR_RECEIVE)
                continue
            if packet is None:
                return
            with self._lock:
                self._handle(packet)

    def _transmit(self) -> None:
        head = self._out[0]
        if self._master is None or not isinstance(head, bytes):
            return
        chunk = head[:_CHUNK] if self.throttle else head
        try:
            sent = os.write(self._master, chunk)
        except BlockingIOError:
            return
        if sent < len(head):
            self._out[0] = head[sent:]
        else:
            self._out.popleft()
        if self.throttle:
            now = time.monotonic()
            self._wire_free = max(self._wire_free, now) + sent * 10 / self.baudrate
        if not self._out and self.upload_started is not None and self.upload_sent is None:
            self.upload_sent = max(self._wire_free, time.monotonic())


if __name__ == "__main__":
    # The documented ``python -m kiosk.hardware.fingerprint.emulator`` runs the program in
    # emulator_cli. Run by name, not imported: the emulator (a library the tests import)
    # does not depend on its command line; the command line depends on it.
    import runpy

    runpy.run_module("kiosk.hardware.fingerprint.emulator_cli", run_name="__main__",
                     alter_sys=True)
