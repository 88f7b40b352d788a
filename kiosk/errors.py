"""The kiosk's exception tree.

One root, :class:`KioskError`. Each class also inherits the matching builtin where there is
one (``DeviceTimeout`` is a ``TimeoutError``, ``ConfigError`` a ``ValueError``), the way
gpiozero does, so callers can catch either.

``temporary`` separates faults worth retrying (a timeout, a busy device, a dropped link)
from permanent ones (a wrong configuration, a missing device, a corrupt journal), so retry
policy is mechanical: ``if exc.temporary: retry()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose."""

    temporary: bool = False


# -- configuration -------------------------------------------------------------------------
class ConfigError(KioskError, ValueError):
    """A configuration value is wrong. Names the key, the bad value and what is allowed."""

    #: The config file that set the key, once known (:meth:`located`); None: not a file's.
    source: Path | None = None

    def __init__(self, key: str, value: object, allowed: str, *,
                 message: str | None = None) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        # ``message``: where "VALUE is not allowed" does not read (a file, a section, a key
        # the section does not have); it still starts with the key.
        super().__init__(message or f"{key}: {value!r} is not allowed; expected {allowed}")

    @classmethod
    def of_file(cls, path: str, problem: str) -> ConfigError:
        """A config file that cannot be used as a whole: ``PATH: PROBLEM`` (``is not valid
        TOML: ...``, ``cannot be read: ...``)."""
        return cls(path, "(file)", problem, message=f"{path}: {problem}")

    def located(self, source: Path) -> ConfigError:
        """This error, its message prefixed with the file that set the key (as a compiler
        names the file: ``/etc/kiosk/kiosk.toml: power.port: -1 is not allowed; ...``)."""
        if self.source is None:
            self.source = source
            self.args = (f"{source}: {self.args[0]}",)
        return self


class UnknownSection(ConfigError):
    """A config section the kiosk does not have; ``known`` names those it has."""

    def __init__(self, section: str, known: Sequence[str]) -> None:
        self.known = list(known)
        names = ", ".join(f"[{s}]" for s in self.known)
        hint = _did_you_mean(section, known, "[{}]")
        super().__init__(f"[{section}]", "(section)", "a known section: " + names,
                         message=f"[{section}]: no such section{hint}; known sections: {names}")


class ConfigUnreadable(ConfigError):
    """A config file this user may not read (``/etc/kiosk`` is 0750 root:kiosk): the
    command is to be run with sudo."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "(file)", "a file this user may read",
                         message=f"cannot read the configuration {path}: permission denied; "
                                 "run with sudo")


class UnknownKey(ConfigError):
    """A key its section does not have (``key`` is ``section.key``); ``known`` lists the keys
    it has."""

    def __init__(self, key: str, value: object, known: Sequence[str]) -> None:
        self.known = list(known)
        section, _, name = key.rpartition(".")
        super().__init__(key, value, "no such key here; known keys: " + ", ".join(self.known),
                         message=f"{key}: no such key in [{section}]"
                                 f"{_did_you_mean(name, known, '{}')}; known keys: "
                                 + ", ".join(self.known))


def _did_you_mean(name: str, known: Sequence[str], form: str) -> str:
    """``"; did you mean X?"`` for the known name closest to a mistyped one, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"; did you mean {form.format(close[0])}?" if close else ""


# -- input validation ----------------------------------------------------------------------
class InvalidInput(KioskError, ValueError):
    """Data a person entered is wrong. ``message_id`` is Indonesian, ``message_en`` English."""

    def __init__(self, part: str, message_id: str, message_en: str) -> None:
        self.part = part
        self.message_id = message_id
        self.message_en = message_en
        super().__init__(f"{message_id} / {message_en}")

    def message(self, language: str) -> str:
        """The message in ``language`` ("id" or "en")."""
        return self.message_en if language == "en" else self.message_id


# -- devices -------------------------------------------------------------------------------
class DeviceError(KioskError):
    """A hardware device failed."""


class DeviceTimeout(DeviceError, TimeoutError):
    """A device did not answer in time."""

    temporary = True


class DeviceBusy(DeviceError):
    """The device is already doing something (a second tap during a capture)."""

    temporary = True


class DeviceNotFound(DeviceError):
    """The device is absent or unplugged."""


class DeviceProtocolError(DeviceError):
    """The device answered with bytes that do not follow its protocol."""

    temporary = True


class CaptureRejected(DeviceError):
    """A capture worked but its quality is too low; the person should try again."""

    temporary = True


# -- journal and sealing -------------------------------------------------------------------
class JournalError(KioskError):
    """The journal could not do what was asked."""


class UnknownRecord(JournalError):
    """The journal was read and holds no record with that id (not: it could not be read)."""


class JournalCorrupt(JournalError):
    """The journal file failed its integrity check and was moved aside."""


class StorageFull(JournalError):
    """The journal's filesystem is full (SQLite's ``SQLITE_FULL``). The failed transaction was
    rolled back, so the journal is intact; nothing more can be recorded until space is freed."""

    temporary = False


class IllegalStateChange(JournalError):
    """A record was asked to move to a state it cannot reach from its current one."""


class SealingError(KioskError):
    """Encryption, signing or verification failed, or a key is missing or unusable."""


class BadSignature(SealingError):
    """A signature that does not verify with the key it names (a manifest's, a receipt's)."""


class Undecryptable(SealingError):
    """A sealed step this central key cannot open, or one bound to another record, step or
    kiosk: the intake refuses it as ``undecryptable``."""


class KeyFileExposed(SealingError):
    """A private key file others may read or write (its ``mode`` lets group or others in):
    ``problem`` says so, and the message adds the ``chmod`` that fixes it."""

    def __init__(self, path: Path, mode: int) -> None:
        self.path = path
        self.mode = mode
        self.problem = (f"key file {path} is readable or writable by group/others "
                        f"(mode {mode:o})")
        super().__init__(f"{self.problem}; run `chmod 600 {path}`")


class KeyFileMissing(SealingError):
    """A key file that is not there: ``problem`` says which (``what`` at ``path``), ``fix``
    what to do where there is one, and the message is both."""

    def __init__(self, what: str, path: Path, fix: str = "") -> None:
        self.what = what
        self.path = path
        self.fix = fix
        self.problem = f"{what} {path} is missing"
        super().__init__(self.problem + (f"; {fix}" if fix else ""))


# -- enrollment ----------------------------------------------------------------------------
class IllegalTransition(KioskError, RuntimeError):
    """The enrollment session was asked to do something its current step does not allow."""


class SessionExpired(KioskError):
    """The session timed out; its in-memory data has been wiped."""


class RefusalCategory(StrEnum):
    """Why the kiosk takes no new enrollment, as a kind: decided where the refusal is (the
    acceptance check, the runtime's start-up, the touchscreen's own check failing), carried
    beside the English ``reason`` (never read back out of it). The closed screen says it
    to the officer in the screen's language (``kiosk.screens.messages.closed_summary``)."""

    JOURNAL = "journal"  # a corrupt journal kept aside: a maintainer must inspect it
    STORAGE_FULL = "storage_full"  # no free space, or the disk reserve reached
    STORAGE_UNUSABLE = "storage_unusable"  # read-only, not writable, not a directory
    BATTERY_LOW = "battery_low"  # on battery, below the limits for a new enrollment
    POWER_SHUTDOWN = "power_shutdown"  # the power watcher is shutting the kiosk down
    DEVICE = "device"  # a device did not open at start-up
    STARTUP = "startup"  # any other start-up failure (sealing keys, ...)
    CONFIGURATION = "configuration"  # the configuration file does not load
    INTERNAL = "internal"  # the acceptance check itself failed


class NotAccepting(KioskError):
    """The kiosk is not accepting enrollments (power, disk, journal); ``reason`` says why,
    ``category`` what kind of refusal it is ("" when not known)."""

    def __init__(self, reason: str, category: RefusalCategory | str = "") -> None:
        self.reason = reason
        self.category = category
        super().__init__(reason)
