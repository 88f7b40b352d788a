"""``kiosk demo``: simulated citizens through the same EnrollmentSession the screens use.

Each citizen goes language -> consent -> identity -> demographics -> portrait ->
fingerprints -> signature -> review -> confirm, on the configured hardware. The line
``enrolled <record-id>`` is printed (and flushed) only after ``confirm()`` has returned, that
is once the record is sealed and its commit fsync'd; a kill at any instant therefore never
leaves a printed id without its sealed record.

The demo stops with exit status 3 (not accepting) when the disk reserve
(``kiosk.disk_reserve_bytes``) is reached before a citizen starts, and also when the disk
fills up during a citizen anyway (a reserve of 0, or something else filling the disk): the
journal rolls the failed write back, the unfinished record is discarded (or, if even that
finds no space, left ``in_progress`` for start-up recovery to delete) and never sealed.

A citizen whose capture fails every try (a worn finger the simulated sensor never reads) is
enrolled again by an officer, assisted, with that finger recorded missing
(:func:`enroll_citizen`): one line per citizen all the same.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from kiosk.config import Config
from kiosk.core.exits import EXIT_NOT_ACCEPTING, EXIT_OK
from kiosk.core.vocabulary import FINGERS
from kiosk.enrollment.fingerprint_quality import FingerprintThresholds
from kiosk.enrollment.session import EnrollmentSession
from kiosk.enrollment.signature import render_signature_png
from kiosk.enrollment.synthetic import SyntheticCitizen, citizens
from kiosk.errors import (
    CaptureRejected,
    DeviceTimeout,
    IllegalTransition,
    NotAccepting,
    StorageFull,
)
from kiosk.runtime import Runtime, check_acceptance

log = logging.getLogger(__name__)

CAPTURE_TRIES = 3  # a person asked to "place the finger again" tries about this often
#: The missing-finger reason an officer gives a finger that no try reads.
UNREADABLE = "unreadable"  # one of MISSING_FINGER_REASONS (the session checks)


def signature_png(seed: int) -> bytes:
    """A pen-stroke signature, drawn as the touchscreen's pad draws one
    (:func:`kiosk.enrollment.signature.render_signature_png`): a zigzag of 4 px ink across
    the 600 x 200 pad, different for each ``seed``."""
    x, y, t = 40, 120, 0.0
    points = [(x / 600, 1 - y / 200, t)]
    state = seed * 2654435761 % 2**32
    while x < 560:
        state = (1103515245 * state + 12345) % 2**31
        dx, dy = 12 + state % 25, (state >> 8) % 61 - 30
        x, y, t = x + dx, max(30, min(170, y + dy)), t + 0.03
        points.append((x / 600, 1 - y / 200, t))
    return render_signature_png([points])


def _retry(action: Callable[[], object], what: str) -> None:
    for attempt in range(1, CAPTURE_TRIES + 1):
        try:
            action()
            return
        except (CaptureRejected, DeviceTimeout) as exc:
            log.info("%s attempt %d failed: %s", what, attempt, exc)
            if attempt == CAPTURE_TRIES:
                raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the end of the block (a few milliseconds: the seal's
    commit and one line), so that a record sealed is a record printed, and the demo's last
    words ("any citizen in progress was discarded") stay true. Python's handlers are
    swapped for ones that note the signal, raised again once the block ends (a signal mask
    would not do: the kernel gives a process's signal to any thread that does not block
    it). A second signal inside the block acts at once (stdout may block: ``| less``,
    a terminal paused with Ctrl-S). Outside the main thread the block is not held."""
    kinds = (signal.SIGTERM, signal.SIGINT)
    noted: list[int] = []
    previous: dict[int, Any] = {}

    def restore() -> None:
        for signum in list(previous):
            signal.signal(signum, previous.pop(signum))

    def note(signum: int, frame: Any) -> None:
        noted.append(signum)
        if len(noted) > 1:  # asked again: now, as without the block
            handler = previous.get(signum)
            restore()
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)

    try:
        for signum in kinds:
            previous[signum] = signal.signal(signum, note)
    except ValueError:  # not the main thread: no handlers to swap
        restore()
        yield
        return
    try:
        yield
    finally:
        held = len(noted) == 1
        restore()
        if held:
            signal.raise_signal(noted[0])  # its own handler now: KeyboardInterrupt, ...


def enroll_one(kiosk: Runtime, citizen: SyntheticCitizen, *, timeout_s: float,
               assisted: bool | None = None,
               announce: Callable[[str], None] | None = None) -> str:
    """Run one citizen through a full session; return the sealed record id.

    ``assisted`` (default: the citizen's own) makes it a staff-assisted session: a finger
    that fails every try is then recorded as missing, ``unreadable``, as the officer would.
    ``announce`` is given the record id as it is sealed, with Ctrl-C and SIGTERM held
    until it returns (:func:`_signals_held`).
    """
    assisted = citizen.assisted if assisted is None else assisted
    camera = kiosk.devices["camera"]
    if hasattr(camera, "subject"):  # the simulated camera: a different face per citizen
        camera.subject = citizen.index
    session = EnrollmentSession(
        kiosk.store,
        fingerprint=kiosk.devices["fingerprint"],
        camera=kiosk.devices["camera"],
        assisted=assisted,
        timeout_s=timeout_s,
        fingerprint_limits=FingerprintThresholds.from_config(kiosk.config["fingerprints"]),
        fingerprint_storage=kiosk.config["fingerprints"]["storage"],
    )
    try:
        session.choose_language(citizen.language)
        session.give_consent(True)
        session.enter_identity(citizen.nik, citizen.kk)
        session.confirm_demographics(citizen.demographics)
        _retry(session.capture_portrait, "portrait")
        session.accept_portrait()
        scanner = kiosk.devices["fingerprint"]
        for number, code in enumerate(FINGERS):
            if code in citizen.missing_fingers:
                session.record_missing_finger(code, citizen.missing_fingers[code])
                continue
            if hasattr(scanner, "present"):  # simulated: this citizen's own finger, each
                scanner.present(number, person=citizen.index)  # try a new impression
            try:
                _retry(lambda code=code: session.capture_finger(code), f"finger {code}")
            except CaptureRejected:
                if not assisted:
                    raise
                log.warning("citizen #%d: finger %s unreadable after %d tries; recorded as "
                            "missing by the officer", citizen.index, code, CAPTURE_TRIES)
                session.record_missing_finger(code, UNREADABLE)
        session.finish_fingerprints()
        session.submit_signature(signature_png(citizen.index))
        session.review()
        with _signals_held():  # a signal now lands after the seal is announced
            record_id = session.confirm()
            if announce is not None:
                announce(record_id)
        return record_id
    except BaseException:
        # A signal held over the seal lands at the end of that block: abort() refuses the
        # sealed session (IllegalTransition), and must not hide the interrupt.
        with contextlib.suppress(IllegalTransition):
            session.abort("demo: step failed")
        raise


def enroll_citizen(kiosk: Runtime, citizen: SyntheticCitizen, *, timeout_s: float,
                   announce: Callable[[str], None] | None = None) -> str:
    """Enroll ``citizen`` as the kiosk would: self-service, and when a capture fails every
    try (a worn finger the sensor never reads: about one citizen in 350 of the simulated
    ones), the screen calls an officer, who enrolls them again in an assisted session and
    records such a finger as missing. The self-service attempt is discarded, never sealed.
    A device that does not answer (DeviceTimeout) is no citizen's problem: it stops the
    demo."""
    try:
        return enroll_one(kiosk, citizen, timeout_s=timeout_s, announce=announce)
    except CaptureRejected as exc:
        if citizen.assisted:
            raise
        log.warning("citizen #%d: %d tries failed (%s); an officer enrolls them (assisted)",
                    citizen.index, CAPTURE_TRIES, exc)
    return enroll_one(kiosk, citizen, timeout_s=timeout_s, assisted=True, announce=announce)


def run_demo(config: Config, count: int, seed: int, out: TextIO) -> int:
    """Enroll ``count`` simulated citizens; return the exit status (0, or 3 not accepting)."""
    try:
        return _enroll_all(config, count, seed, out)
    except NotAccepting as exc:
        log.error("not accepting enrollments: %s", exc.reason)
        return EXIT_NOT_ACCEPTING
    except StorageFull as exc:
        log.error("not accepting enrollments: disk full (%s); free space in %s, then start "
                  "again (an unfinished record is discarded at start)", exc, config.data_dir)
        return EXIT_NOT_ACCEPTING
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        log.error("not accepting enrollments: disk full (%s); free space in %s, then start "
                  "again", exc, config.data_dir)
        return EXIT_NOT_ACCEPTING


def _enroll_all(config: Config, count: int, seed: int, out: TextIO) -> int:
    with Runtime.open(config) as kiosk:
        people = citizens(seed)
        for n in range(count):
            if n:  # Runtime.open checked the first; re-check before each further person.
                acceptance = check_acceptance(config)
                if not acceptance.accepting:
                    raise NotAccepting(acceptance.reason or "not accepting")
            enroll_citizen(kiosk, next(people), timeout_s=config["kiosk"]["session_timeout_s"],
                           announce=lambda record_id: _print_enrolled(out, record_id))
    return EXIT_OK


def _print_enrolled(out: TextIO, record_id: str) -> None:
    out.write(f"enrolled {record_id}\n")
    out.flush()
