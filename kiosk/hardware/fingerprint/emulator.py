"""A ZFM fingerprint sensor emulated byte for byte on a pseudo-terminal, with faults on demand.

The emulator owns the master end of a pty (``os.openpty``); the driver opens the slave path
with pyserial exactly as it opens ``/dev/ttyAMA0``. With ``link`` the slave is also reachable
through a stable symlink, which is what makes an unplug testable: on a ``drop`` the emulator
closes the pty (the driver's next read fails with EIO, as with a pulled USB adapter),
removes the link, and after ``drop_s`` seconds makes a new pty and points the link at it.
Like a real module after power-up it then sends a lone ``0x55``.

Images: by default capture ``n`` is finger ``n`` of the synthetic person ``seed`` (the
simulated scanner's images), quantized to 4 bits; :meth:`FingerprintEmulator.expected_image`
gives the 8-bit image the driver must return. A new image is taken when ``GenImg`` succeeds
after the previous image was uploaded in full; until then re-uploads send the same image.

Faults (OctoPrint's virtual-printer idea), given at start or injected at run time. Counts are
"the next N times"; -1 means always:

=====================  ===============================================================
``no_finger``          GenImg answers 0x02 (no finger) this many times before each image
``bad_checksum``       the next N acknowledge packets carry a wrong checksum
``bad_checksum_image`` the next N image uploads have one data packet with a wrong checksum
``garbage``            the next N replies are preceded by random bytes
``stall``              the next N image uploads stop halfway (the rest is never sent)
``drop``               the next N image uploads drop the line halfway (pty gone for drop_s)
``drop_every``         every Nth image drops the line halfway through its first upload
``disconnect``         the next image upload drops the line halfway for good
``mute``               nothing is ever answered
=====================  ===============================================================

Standalone, for ``kiosk demo`` or a maintainer::

    python -m kiosk.hardware.fingerprint.emulator --link /tmp/fp0 [--fault drop-every=10]
    # kiosk.toml: [hardware.fingerprint]  type = "zfm"  port = "/tmp/fp0"

In tests::

    with FingerprintEmulator(link=tmp_path / "fp0") as emu:
        with ZfmFingerprint(port=emu.port, timeout_s=0.3) as scanner:
            assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import logging
import os
import random
import select
import signal
import sys
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import synth
from kiosk.hardware.fingerprint import zfm_protocol as zp

log = logging.getLogger(__name__)

ImageSource = FingerprintImage | bytes | Sequence[FingerprintImage | bytes] | Callable[
    [int], FingerprintImage | bytes] | None
_CHUNK = 64  # bytes per write when throttled: ~5.6 ms at 115200 baud


@dataclass
class Faults:
    """What goes wrong, and how often (see the module docstring)."""

    no_finger: int = 0
    bad_checksum: int = 0
    bad_checksum_image: int = 0
    garbage: int = 0
    stall: int = 0
    drop: int = 0
    drop_every: int = 0
    disconnect: bool = False
    mute: bool = False
    drop_s: float = 0.3

    def take(self, name: str) -> bool:
        """Use one occurrence of fault ``name``: True if it fires now."""
        count = getattr(self, name)
        if count == -1:
            return True
        if count > 0:
            setattr(self, name, count - 1)
            return True
        return False


def parse_fault(spec: str, faults: Faults) -> None:
    """Apply one ``--fault`` spec (``name[=once|always|N]``, dashes or underscores)."""
    name, _, value = spec.partition("=")
    name = name.strip().replace("-", "_")
    known = {f.name for f in fields(Faults)}
    if name not in known:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
    if name in ("disconnect", "mute"):
        setattr(faults, name, value in ("", "1", "true", "yes", "once"))
        return
    if name == "drop_s":
        faults.drop_s = float(value)
        return
    count = {"": 1, "once": 1, "always": -1}.get(value)
    if count is None:
        count = int(value)
    setattr(faults, name, count)


class _Drop:
    """Queue marker: the line drops here (``forever`` for a disconnect)."""

    def __init__(self, forever: bool) -> None:
        self.forever = forever


class _Stall:
    """Queue marker: the upload stops here."""


class FingerprintEmulator:
    """A ZFM sensor on a pty: VfyPwd, ReadSysPara, GenImg, Img2Tz, UpImage, UpChar and
    AuraLedConfig, with fault injection. ``port`` is the path the driver opens."""

    def __init__(self, *, link: str | Path | None = None, images: ImageSource = None,
                 seed: int = 0, faults: Faults | None = None,
                 address: int = zp.DEFAULT_ADDRESS, password: int = zp.DEFAULT_PASSWORD,
                 packet_size: int = 128, baudrate: int = 57600, throttle: bool = False,
                 library_size: int = 1000, security_level: int = 3) -> None:
        if packet_size not in zp.PACKET_SIZES.values():
            raise ValueError(f"packet size {packet_size} is not 32, 64, 128 or 256")
        self.link = Path(link) if link is not None else None
        self.images = images
        self.seed = seed
        self.faults = faults or Faults()
        self.address = address
        self.password = password
        self.packet_size = packet_size
        self.baudrate = baudrate
        self.throttle = throttle
        self.params = zp.SysParams(0, 0x0009, library_size, security_level, address,
                                   packet_size, baudrate)
        # Counters, for tests and the benchmark.
        self.commands: list[int] = []  # instruction codes in arrival order
        self.uploads = 0               # UpImage acks sent
        self.drops = 0
        self.led: tuple[int, int, int, int] | None = None
        self.upload_started: float | None = None
        self.upload_sent: float | None = None  # when the last byte of the upload left
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
        self._rng = random.Random(seed)  # noqa: S311 - line noise, not secrets
        self._parser = zp.PacketParser()
        self._out: deque[bytes | _Drop | _Stall] = deque()
        self._wire_free = 0.0
        # Sensor state.
        self._index = 0            # the image in the buffer
        self._have_image = False   # GenImg succeeded since power-up
        self._uploaded = False     # the image in the buffer was uploaded in full
        self._dropped_index = -1   # drop_every: the image that already dropped once
        self._polls_left = self.faults.no_finger
        self._template = False

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

    # -- images ----------------------------------------------------------------------------------
    def source_pixels(self, index: int) -> bytes:
        """The 8-bit 256 x 288 image capture ``index`` shows, before quantization."""
        src = self.images
        if src is None:
            return synth.render(self.seed, index)
        if callable(src) and not isinstance(src, FingerprintImage | bytes):
            item = src(index)
        elif isinstance(src, FingerprintImage | bytes):
            item = src
        else:
            item = src[index % len(src)]
        pixels = item.pixels if isinstance(item, FingerprintImage) else bytes(item)
        if len(pixels) != zp.IMAGE_WIDTH * zp.IMAGE_HEIGHT:
            raise ValueError(f"emulator image {index}: {len(pixels)} pixels; expected "
                             f"{zp.IMAGE_WIDTH}x{zp.IMAGE_HEIGHT}")
        return pixels

    def expected_image(self, index: int) -> FingerprintImage:
        """What the driver must deliver for capture ``index``: 4-bit levels times 17."""
        wire_image = zp.pack_image(self.source_pixels(index))
        return FingerprintImage(zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT, 500, zp.unpack_image(wire_image))

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
        self._out.clear()
        # Power-up empties the image buffer; which finger comes next does not change.
        self._have_image = self._template = False
        if power_on:
            self._out.append(b"\x55")  # R503: "after reset, 0x55 is sent as a handshake sign"
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
            if isinstance(self._out[0], _Drop | _Stall):
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

    def _marker(self, marker: _Drop | _Stall) -> None:
        if isinstance(marker, _Drop):
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

    # -- the sensor --------------------------------------------------------------------------------
    def _send(self, frame: bytes) -> None:
        if self.faults.take("garbage"):
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(3, 24)))
            self._out.append(noise + b"\xef")  # a lone EF: the start of a header that is not
        self._out.append(frame)

    def _reply(self, confirmation: int, params: bytes = b"") -> None:
        frame = zp.ack(confirmation, params, self.address)
        if self.faults.take("bad_checksum"):
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        self._send(frame)

    def _handle(self, packet: zp.Packet) -> None:
        if self.faults.mute or packet.pid != zp.PID_COMMAND or not packet.payload:
            return
        if packet.address != self.address:  # not for this module: a real one stays silent
            return
        self._out.clear()  # a new command ends whatever was still being sent
        code, params = packet.payload[0], packet.payload[1:]
        self.commands.append(code)
        if code == zp.VFY_PWD:
            ok = len(params) == 4 and int.from_bytes(params, "big") == self.password
            self._reply(zp.OK if ok else zp.WRONG_PASSWORD)
        elif code == zp.READ_SYS_PARA:
            self._reply(zp.OK, zp.encode_sys_params(self.params))
        elif code == zp.GEN_IMG:
            self._gen_img()
        elif code == zp.IMG2TZ:
            self._template = self._have_image
            self._reply(zp.OK if self._have_image else zp.INVALID_IMAGE)
        elif code == zp.UP_IMAGE:
            self._up_image()
        elif code == zp.UP_CHAR:
            if not self._template:
                self._reply(zp.UPLOAD_FAIL)
                return
            self._reply(zp.OK)
            digest = hashlib.sha256(b"template%d" % self._index).digest()
            for frame in zp.data_packets(digest * 16, self.packet_size, self.address):
                self._out.append(frame)
        elif code == zp.AURA_LED_CONFIG and len(params) == 4:
            self.led = (params[0], params[1], params[2], params[3])
            self._reply(zp.OK)
        else:
            self._reply(zp.ERR_RECEIVE)

    def _gen_img(self) -> None:
        if self._polls_left:
            if self._polls_left > 0:
                self._polls_left -= 1
            self._reply(zp.NO_FINGER)
            return
        if self._uploaded:  # the previous image went out in full: this is the next finger
            self._index += 1
            self._uploaded = False
            self._polls_left = self.faults.no_finger
            if self._polls_left:
                self._gen_img()
                return
        self._have_image = True
        self._template = False
        self._reply(zp.OK)

    def _up_image(self) -> None:
        if not self._have_image:
            self._reply(zp.UPLOAD_FAIL)
            return
        self.uploads += 1
        frames = zp.data_packets(zp.pack_image(self.source_pixels(self._index)),
                                 self.packet_size, self.address)
        self.upload_started, self.upload_sent = time.monotonic(), None
        if self.throttle:
            self._wire_free = max(self._wire_free, self.upload_started)
        self._reply(zp.OK)
        half = len(frames) // 2
        faults = self.faults
        if faults.disconnect:
            faults.disconnect = False
            self._out.extend(frames[:half])
            self._out.append(_Drop(forever=True))
            return
        every = faults.drop_every and (self._index + 1) % faults.drop_every == 0 \
            and self._dropped_index != self._index
        if every or faults.take("drop"):
            self._dropped_index = self._index
            self._out.extend(frames[:half])
            self._out.append(_Drop(forever=False))
            return
        if faults.take("stall"):
            self._out.extend(frames[:half])
            self._out.append(_Stall())
            return
        if faults.take("bad_checksum_image"):
            bad = frames[half]
            frames[half] = bad[:-1] + bytes([bad[-1] ^ 0x5A])
        self._out.extend(frames)
        self._uploaded = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.hardware.fingerprint.emulator",
        description="Emulate a ZFM (R307/R503/AS608) fingerprint sensor on a pseudo-terminal.")
    parser.add_argument("--link", help="a stable symlink to the pty (e.g. /tmp/fp0); needed "
                        "for drop faults, since each drop makes a new pty")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=N]",
                        help="no-finger=N, bad-checksum=once|always|N, bad-checksum-image=..., "
                        "garbage=..., stall=..., drop=..., drop-every=N, drop-s=SECONDS, "
                        "disconnect, mute (repeatable)")
    parser.add_argument("--baudrate", type=int, default=57600)
    parser.add_argument("--packet-size", type=int, default=128, choices=(32, 64, 128, 256))
    parser.add_argument("--throttle", action="store_true",
                        help="pace replies at the baud rate (10 bits per byte), for benchmarks")
    parser.add_argument("--seed", type=int, default=0, help="synthetic person to show")
    parser.add_argument("--image", type=Path, help="serve this 256x288 grayscale PNG instead")
    parser.add_argument("--password", type=lambda s: int(s, 0), default=0)
    parser.add_argument("--address", type=lambda s: int(s, 0), default=zp.DEFAULT_ADDRESS)
    args = parser.parse_args(argv)
    faults = Faults()
    try:
        for spec in args.fault:
            parse_fault(spec, faults)
    except ValueError as exc:
        parser.error(str(exc))
    images = None
    if args.image is not None:
        images = FingerprintImage.from_png(args.image.read_bytes())
    emu = FingerprintEmulator(link=args.link, images=images, seed=args.seed, faults=faults,
                              address=args.address, password=args.password,
                              packet_size=args.packet_size, baudrate=args.baudrate,
                              throttle=args.throttle)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    emu.start()
    print(f"fingerprint emulator on {emu.slave_path}" +
          (f" (link {emu.link})" if emu.link else ""), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
