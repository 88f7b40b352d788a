"""Whether the numbers typed to continue an enrollment are the ones it was begun with.

An officer continues an unfinished assisted enrollment by typing the person's NIK and No. KK
again (the kiosk cannot read the sealed steps back). Several can wait on the list at once,
begun minutes apart; picking the wrong row would seal one person's NIK onto another
person's photo, fingers and details. So the record keeps, while it is unfinished and
assisted, a *check*: scrypt of the two numbers with a random salt. The continue step
recomputes it from what is typed and refuses another pair.

What the check gives away: the two numbers together are some 10^14 guesses even for an
attacker who knows the kecamatan (the NIK's birth date, sex and serial, the No. KK's issue
date and serial), each costing scrypt's 4 MiB and milliseconds: decades on a GPU. It is kept
only until the record is sealed or deleted (``docs/security.md``). Never the NIK alone
(some 10^8 guesses: hours).

Example::

    check = make_check("7202015208850001", "7202011203150007")
    check_matches(check, "7202015208850001", "7202011203150007")   # True
"""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = ["SCHEME", "check_matches", "make_check"]

#: The first bytes of a check: the scheme and its parameters (a later scheme gets a new one).
SCHEME = b"scrypt-12-8-1:"
_N, _R, _P = 1 << 12, 8, 1  # 4 MiB, about 10 ms here (more on a Pi): once per identity
_SALT_BYTES = 16
_DIGEST_BYTES = 32


def _digest(salt: bytes, nik: str, kk: str) -> bytes:
    secret = f"{nik}\x00{kk}".encode("ascii")
    return hashlib.scrypt(secret, salt=salt, n=_N, r=_R, p=_P, maxmem=32 << 20,
                          dklen=_DIGEST_BYTES)


def make_check(nik: str, kk: str) -> bytes:
    """The check of ``nik`` and ``kk`` (their digits), with a fresh random salt."""
    salt = os.urandom(_SALT_BYTES)
    return SCHEME + salt + _digest(salt, nik, kk)


def check_matches(check: bytes, nik: str, kk: str) -> bool:
    """True when ``nik`` and ``kk`` are the numbers ``check`` was made of. ValueError for a
    check of an unknown scheme or length (not one this code made)."""
    check = bytes(check)
    if not check.startswith(SCHEME) or len(check) != len(SCHEME) + _SALT_BYTES + _DIGEST_BYTES:
        raise ValueError("not a resume check this kiosk made")
    salt = check[len(SCHEME):len(SCHEME) + _SALT_BYTES]
    return hmac.compare_digest(check[len(SCHEME) + _SALT_BYTES:], _digest(salt, nik, kk))
