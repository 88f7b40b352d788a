"""Key files for sealing: the kiosk's Ed25519 device key and the central X25519 key pair.

Imported through :mod:`kiosk.sealing`; split out only to keep that module small.

Files:

* device key (kiosk, e.g. ``/var/lib/kiosk/device.key``): the raw 32-byte Ed25519 seed,
  mode 0600, created on first start.
* ``central.key`` (central office only, mode 0600) and ``central.pub`` (copied to every
  kiosk): two text lines, a header naming the kind and version, then the key in hex, so a
  maintainer can tell them apart with ``head -1``::

      ektp-central-public-key v1
      3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c

* device public key text (``DeviceKey.public_key_text()``), for registering a kiosk at the
  intake: the same two-line form with header ``ektp-device-public-key v1``.

A key id is the first 16 hex characters of the SHA-256 of the public key. Key material is
never logged and never shown by ``repr``.
"""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path
from typing import Self

import nacl.public
import nacl.signing

from kiosk.core.ids import key_id
from kiosk.errors import KeyFileExposed, KeyFileMissing, SealingError
from kiosk.fsutil import make_dirs, write_atomic

log = logging.getLogger(__name__)

SEED_BYTES = 32  # Ed25519 seed and X25519 private key are both 32 bytes
CENTRAL_PRIVATE = "ektp-central-private-key v1"
CENTRAL_PUBLIC = "ektp-central-public-key v1"
DEVICE_PUBLIC = "ektp-device-public-key v1"
# Not "make a key pair": a missing central.pub is most often a path mistyped in the
# config, and a kiosk sealing to a new pair seals what the intake cannot open.
_PROVISION_HINT = (
    "check sealing.central_key in the configuration (kiosk config show); the file comes "
    "from the central office, its intake's DIR/keys/central.pub (made once there by "
    "`kiosk-intake keys init --data DIR`): copy that file"
)


# -- files ----------------------------------------------------------------------------------
def check_private_mode(path: Path) -> None:
    """SealingError unless ``path`` is a regular file only its owner may read and write
    (:class:`~kiosk.errors.KeyFileExposed` when others may)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SealingError(f"key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise KeyFileExposed(path, stat.S_IMODE(info.st_mode))


def _key_text(header: str, key: bytes) -> bytes:
    return f"{header}\n{key.hex()}\n".encode("ascii")


def read_key_file(path: Path, header: str, what: str, *, missing: str = "",
                  private: bool = False) -> bytes:
    """The 32-byte key of the two-line key file ``path`` (``header``, then the key in hex):
    the one loader of every kind of key file. SealingError naming ``what`` when the file is
    missing (:class:`~kiosk.errors.KeyFileMissing`, whose fix is ``missing``), has another
    header, or is not such a file;
    a ``private`` one must also pass :func:`check_private_mode`."""
    path = Path(path)
    if not path.exists():
        raise KeyFileMissing(what, path, missing)
    if private:
        check_private_mode(path)
    try:
        lines = path.read_text("ascii").split()
    except UnicodeDecodeError as exc:
        raise SealingError(f"{what} {path} is not a text key file") from exc
    found = " ".join(lines[:2]) if len(lines) >= 2 else ""
    if found != header:
        kind = found if found.startswith("ektp-") else "not a key file of this kiosk"
        raise SealingError(f"{path} is not a {what} (expected header {header!r}; it is {kind})")
    try:
        key = bytes.fromhex(lines[2]) if len(lines) == 3 else b""
    except ValueError as exc:
        raise SealingError(f"{what} {path}: the key line is not hex") from exc
    if len(key) != SEED_BYTES:
        raise SealingError(f"{what} {path}: expected {SEED_BYTES} bytes of key in hex")
    return key


# -- Ed25519 seed keys (the device key; the intake's receipt key) ---------------------------
class SeedKey:
    """An Ed25519 signing key kept as its raw 32-byte seed in a 0600 file, made once.

    Subclasses name what they are (``what``), the header of their public text form and what
    to do when the file is damaged (``restore_hint``). Key material is never logged, shown
    by ``repr`` or pickled.
    """

    __slots__ = ("_signing_key", "key_id", "public_bytes")
    what = "signing key"
    public_header = ""
    restore_hint = "restore it from backup"

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise SealingError(f"{self.what} seed must be {SEED_BYTES} bytes")
        self._signing_key = nacl.signing.SigningKey(bytes(seed))
        self.public_bytes: bytes = bytes(self._signing_key.verify_key)
        self.key_id: str = key_id(self.public_bytes)

    @classmethod
    def generate(cls) -> Self:
        """A fresh key held in memory only (tests, tools)."""
        return cls(secrets.token_bytes(SEED_BYTES))

    @classmethod
    def load_or_create(cls, path: Path) -> Self:
        """Load the seed at ``path``, creating it (mode 0600, atomically, durably) if absent.

        An existing key is never replaced: what it signed names it.
        """
        path = Path(path)
        if not path.exists():
            make_dirs(path.parent, mode=0o700)
            key = cls.generate()
            try:
                write_atomic(path, bytes(key._signing_key), 0o600, overwrite=False)
            except FileExistsError:
                pass  # another process created it first: use theirs, below
            except OSError as exc:
                raise SealingError(f"cannot create {cls.what} {path}: {exc.strerror}") from exc
            else:
                log.info("created %s %s at %s", cls.what, key.key_id, path)
                return key
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load the seed at ``path``, never creating it: SealingError when it is missing
        (:class:`~kiosk.errors.KeyFileMissing`), readable by others or not a seed; OSError
        when it cannot be read."""
        path = Path(path)
        if not path.exists():
            raise KeyFileMissing(cls.what, path)
        check_private_mode(path)
        seed = path.read_bytes()
        if len(seed) != SEED_BYTES:
            raise SealingError(f"{cls.what} {path} is {len(seed)} bytes, expected "
                               f"{SEED_BYTES}; {cls.restore_hint}")
        return cls(seed)

    def sign(self, message: bytes) -> bytes:
        """Detached 64-byte Ed25519 signature of ``message``."""
        return bytes(self._signing_key.sign(message).signature)

    def public_key_text(self) -> str:
        """The public key in the two-line text form (header, then hex)."""
        return _key_text(self.public_header, self.public_bytes).decode("ascii")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"

    def __reduce__(self) -> object:
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class DeviceKey(SeedKey):
    """This kiosk's Ed25519 signing key. Created once, on first start; never leaves the kiosk.

    Example::

        key = DeviceKey.load_or_create(Path("/var/lib/kiosk/device.key"))
        print(key.key_id)              # register key.public_key_text() at the intake
    """

    __slots__ = ()
    what = "device key"
    public_header = DEVICE_PUBLIC
    restore_hint = ("restore it from backup, or move it away to create a new one (then "
                    "re-register the kiosk)")


def load_device_public_key(path: Path) -> bytes:
    """Read a device public key file (``public_key_text()``) at the intake."""
    return read_key_file(path, DEVICE_PUBLIC, "device public key")


# -- central key pair ---------------------------------------------------------------------------
def generate_central_keypair(directory: Path) -> tuple[Path, Path]:
    """Create ``central.key`` (0600) and ``central.pub`` in ``directory``; never overwrites
    an existing private key (records sealed to it could no longer be opened)."""
    directory = Path(directory)
    private_path, public_path = directory / "central.key", directory / "central.pub"
    refusal = (f"refusing to overwrite the central private key {private_path}: records sealed "
               "to it could never be opened again; move it away first if you really mean it")
    if private_path.exists():
        raise SealingError(refusal)
    make_dirs(directory, mode=0o700)
    private = nacl.public.PrivateKey.generate()
    public = bytes(private.public_key)
    try:
        write_atomic(private_path, _key_text(CENTRAL_PRIVATE, bytes(private)), 0o600,
                      overwrite=False)
    except FileExistsError as exc:
        raise SealingError(refusal) from exc
    write_atomic(public_path, _key_text(CENTRAL_PUBLIC, public), 0o644, overwrite=True)
    log.info("created central key pair %s in %s", key_id(public), directory)
    return private_path, public_path


def restore_central_public_key(private_path: Path) -> Path:
    """Write ``central.pub`` beside ``private_path`` from the private key in it, for a pair
    whose making was cut short between its two files (``central.key`` is written first).
    Never overwrites an existing public key."""
    private = nacl.public.PrivateKey(load_central_private_key(private_path))
    public_path = Path(private_path).with_name("central.pub")
    write_atomic(public_path, _key_text(CENTRAL_PUBLIC, bytes(private.public_key)), 0o644,
                 overwrite=False)
    return public_path


def load_central_public_key(path: Path) -> bytes:
    """The central office's X25519 public key (32 bytes) from ``central.pub``."""
    return read_key_file(path, CENTRAL_PUBLIC, "central public key",
                         missing=f"{_PROVISION_HINT} to {path}")


def load_central_private_key(path: Path) -> bytes:
    """The central X25519 private key (32 bytes) from ``central.key``; intake only."""
    return read_key_file(path, CENTRAL_PRIVATE, "central private key", private=True,
                         missing="create it with `kiosk-intake keys init --data DIR`")
