"""In-memory stand-ins for the record store, the fingerprint scanner and the camera."""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from PIL import Image, ImageDraw

from kiosk.core.ids import make_record_id
from kiosk.enrollment.demographics import Demographics
from kiosk.enrollment.session import EnrollmentSession, Step
from kiosk.errors import JournalError

TODAY = date(2025, 6, 1)
NIK_TEXT = "7204 0152 0885 0001"  # woman born 12 Aug 1985
NIK_DIGITS = "7204015208850001"
KK_TEXT = "7204011203150007"
PERSON = Demographics(
    full_name="Nur'aini Tobondo", place_of_birth="Tentena", date_of_birth=date(1985, 8, 12),
    sex="F", blood_type="O", address="Jl. Pulau Sumatera No. 12", rt="001", rw="003",
    kelurahan_desa="Gebangrejo", kecamatan="Poso Kota", religion="Islam",
    marital_status="Kawin", occupation="Wiraswasta", citizenship="WNI")


class FakeStore:
    """Records every call, with the session's step at that moment; can be told to fail."""

    def __init__(self) -> None:
        self.session: EnrollmentSession | None = None
        self.calls: list[tuple[str, str, Step | None]] = []
        self.steps: dict[str, dict[str, dict[str, bytes]]] = {}
        self.sealed: set[str] = set()
        self.discarded: dict[str, str] = {}
        self.fail_on: set[str] = set()  # step names, or "begin", "seal", "discard"
        self.checks: dict[str, bytes] = {}  # record -> its resume check

    def _note(self, what: str, detail: str) -> None:
        step = self.session.step if self.session is not None else None
        self.calls.append((what, detail, step))
        if detail in self.fail_on or what in self.fail_on:
            raise JournalError(f"{what} failed (test)")

    def begin(self, *, assisted: bool, step: str, parts: Mapping[str, bytes]) -> str:
        record_id = make_record_id("test-01", len(self.steps) + 1, "abcdef")
        self._note("begin", step)  # fails for fail_on "begin" or the step's name
        self.steps[record_id] = {step: dict(parts)}
        return record_id

    def save_step(self, record_id: str, step: str, parts: Mapping[str, bytes], *,
                  resume_check: bytes | None = None) -> None:
        self._note("save_step", step)
        self.steps[record_id][step] = dict(parts)
        if resume_check is not None:
            self.checks[record_id] = resume_check

    def seal(self, record_id: str) -> None:
        self._note("seal", "seal")
        self.sealed.add(record_id)

    def mark_assisted(self, record_id: str, staff_id: str, *,
                      resume_check: bytes | None = None) -> None:
        self._note("mark_assisted", staff_id)
        self.assisted_by = getattr(self, "assisted_by", {}) | {record_id: staff_id}
        if resume_check is not None:
            self.checks[record_id] = resume_check

    def resume_check(self, record_id: str) -> bytes | None:
        return self.checks.get(record_id)

    def discard(self, record_id: str, reason: str) -> None:
        self._note("discard", "discard")
        self.discarded[record_id] = reason
        self.steps.pop(record_id, None)


def ridge_pixels(width: int = 256, height: int = 288) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    ridges = 128 + 90 * np.sin(2 * np.pi * np.hypot(x - width / 2, (y - height / 2) * 1.2) / 9)
    finger = ((x - width / 2) / (width * 0.42)) ** 2 + ((y - height / 2) / (height * 0.45)) ** 2
    return np.where(finger < 1, ridges, 235).astype(np.uint8).tobytes()


@dataclass(frozen=True)
class FakeFingerprintImage:
    width: int
    height: int
    ppi: int
    pixels: bytes

    def to_png(self) -> bytes:
        buf = io.BytesIO()
        Image.frombytes("L", (self.width, self.height), self.pixels).save(buf, format="PNG")
        return buf.getvalue()

    def to_webp(self) -> bytes:
        buf = io.BytesIO()
        Image.frombytes("L", (self.width, self.height), self.pixels).save(
            buf, format="WEBP", lossless=True)
        return buf.getvalue()


@dataclass
class FakeScanner:
    """Returns the queued images in order (a good ridge image when the queue is empty).

    ``gate`` (when set) makes a capture wait until the test opens it: a capture in progress.
    Templates: each capture is a different finger (its template names the capture), unless
    ``finger`` names the one on the sensor; matching compares those names. The real
    matcher is tested with the simulated sensor and the emulator.
    """

    queue: list[bytes] = field(default_factory=list)
    gate: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)
    captures: int = 0
    finger: str | None = None

    def extract_template(self) -> bytes:
        return (self.finger or f"capture-{self.captures}").encode()

    def find_match(self, probe: bytes, enrolled: Sequence[bytes]) -> int | None:
        return next((i for i, t in enumerate(enrolled) if t == probe), None)

    def capture(self, *, timeout: float = 10.0) -> FakeFingerprintImage:
        self.captures += 1
        self.started.set()
        if self.gate is not None and not self.gate.wait(5):
            raise AssertionError("test gate never opened")
        pixels = self.queue.pop(0) if self.queue else ridge_pixels()
        return FakeFingerprintImage(256, 288, 500, pixels)


@dataclass(frozen=True)
class FakePhoto:
    width: int
    height: int
    jpeg: bytes


def face_jpeg(dark: bool = False) -> bytes:
    """A still the portrait check passes (the sim camera's person 0), or a too-dark one."""
    if dark:
        img = Image.new("RGB", (480, 640), (5, 5, 5))
    else:
        from kiosk.hardware.camera import scene

        img = Image.fromarray(scene.finish(scene.draw(scene.person(0), 480, 640),
                                           np.random.default_rng(0)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


@dataclass
class FakeCamera:
    queue: list[bytes] = field(default_factory=list)

    def capture_still(self) -> FakePhoto:
        return FakePhoto(480, 640, self.queue.pop(0) if self.queue else face_jpeg())


def signature_png(blank: bool = False) -> bytes:
    img = Image.new("L", (600, 200), 255)
    if not blank:
        ImageDraw.Draw(img).line((40, 120, 300, 60, 560, 140), fill=0, width=4)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
