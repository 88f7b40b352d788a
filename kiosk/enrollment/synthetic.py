"""Seeded fake citizens of Poso regency for the demo and the tests.

Every citizen is valid and eligible (aged 18 to 85 on any date from 2025 to 2039), and
within one seed the first 10,000 have distinct names and distinct NIKs, so a check can grep
the kiosk's files for them. The data is invented: the names are drawn from common
Indonesian name parts and no real person is meant.

Region codes: NIKs use the Ministry of Home Affairs (Kemendagri) codes, in which Central
Sulawesi is 72 and Poso regency 72.02 (its statistics-office code, 7204, is a different
numbering). The kecamatan, their district codes and their kelurahan/desa come from the
Kemendagri region dataset (:mod:`kiosk.enrollment.regions`), so a citizen's NIK decodes to
their kecamatan and ``kelurahan_desa`` is a real village of it; only the people, their
streets and RT/RW are made up. Output is deterministic per seed for a given version of that
dataset: a new version that adds or renames villages changes who lives where.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from kiosk.core.vocabulary import FINGERS, MISSING_FINGER_REASONS
from kiosk.enrollment import regions
from kiosk.enrollment.demographics import Demographics
from kiosk.i18n import DEFAULT_LANGUAGE

__all__ = ["KECAMATAN", "POSO_PROVINCE", "POSO_REGENCY", "SyntheticCitizen", "citizens"]

POSO_PROVINCE = "72"
POSO_REGENCY = "02"


class _Kecamatan(Mapping[str, tuple[str, tuple[str, ...]]]):
    """kecamatan name -> (Kemendagri district code, names of its kelurahan/desa, sorted),
    for Poso regency, read from the region dataset on first use."""

    def __init__(self) -> None:
        self._table: dict[str, tuple[str, tuple[str, ...]]] | None = None

    def _load(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        if self._table is None:
            table: dict[str, tuple[str, tuple[str, ...]]] = {}
            for code, name in regions.districts(POSO_PROVINCE, POSO_REGENCY):
                names = tuple(village for _, village in
                              regions.villages(POSO_PROVINCE, POSO_REGENCY, code))
                if names and name not in table:
                    table[name] = (code, names)
            if not table:
                raise regions.RegionDataError(
                    f"the region dataset lists no kecamatan with villages for "
                    f"{POSO_PROVINCE}.{POSO_REGENCY} (Poso)")
            self._table = table
        return self._table

    def __getitem__(self, name: str) -> tuple[str, tuple[str, ...]]:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"KECAMATAN({len(self)} kecamatan of {POSO_PROVINCE}.{POSO_REGENCY})"


#: kecamatan -> (district code, villages/kelurahan in it), e.g. "Poso Kota" -> ("01", (...)).
KECAMATAN: Mapping[str, tuple[str, tuple[str, ...]]] = _Kecamatan()

_MALE = ("Muhammad", "Andi", "Yohanes", "Frans", "Rahmat", "Budi", "Yusuf", "Hasan",
         "Ma'ruf", "Stefanus", "Daniel", "Agus", "Rizal", "Arifin", "Imanuel", "Samuel",
         "Yosef", "Hendrik", "Ilham", "Syafi'i", "Wayan", "Ketut", "Made", "Rudi", "Darwis",
         "Jefri", "Markus", "Petrus", "Abdul", "Fadli", "Irwan", "Nyoman", "Ronal", "Yeremia")
_FEMALE = ("Siti", "Nur'aini", "Maria", "Agustina", "Dewi", "Sri", "Fitri", "Sa'diyah",
           "Yuliana", "Ni Luh", "Ni Made", "Kristina", "Selvi", "Martha", "Ruth", "Hasnah",
           "Rahma", "Elisabet", "Debora", "Nurhayati", "Wulan", "Ayu", "Magdalena", "Rosita",
           "Fatimah", "Mu'minah", "Sisilia", "Yanti", "Natalia", "Ester")
_MIDDLE = ("Putu", "Ayu", "Indah", "Jaya", "Kurnia", "Putra", "Putri", "Sari", "Eka",
           "Dwi", "Tri", "Nur", "Hadi", "Asih", "Lestari", "Pratama", "Wati", "Rini",
           "Santoso", "Wijaya", "Permata", "Mulia", "Setia", "Bakti")
_FAMILY = ("Tobondo", "Lamba", "Sigilipu", "Kalengke", "Tampake", "Lumentut", "Pasunu",
           "Rompas", "Kandori", "Lateka", "Sumampow", "Tolala", "Mangun", "Gintu", "Palangi",
           "Bungkudapu", "Tarante", "Mapeda", "Mbio", "Towaha", "Al-Hamid", "Al-Habsyi",
           "As-Segaf", "Lasimpo", "Daeng Mattola", "Lapasere", "Dg. Nai", "Mustafa",
           "Padeng", "Tumonggi", "Rangkuti", "Sirait", "Bin-Abdullah", "Lengkong", "Mokodompit")
_STREETS = ("Jl. Pulau Sumatera", "Jl. Pulau Jawa", "Jl. Yos Sudarso", "Jl. Sultan Hasanuddin",
            "Jl. Pattimura", "Jl. Diponegoro", "Jl. Trans Sulawesi", "Jl. Danau Poso",
            "Jl. Wolter Monginsidi", "Jl. Kartini", "Jl. Tanjung Santigi", "Dusun")
_OCCUPATIONS = ("Petani/Pekebun", "Nelayan/Perikanan", "Wiraswasta", "Pelajar/Mahasiswa",
                "Mengurus Rumah Tangga", "Pegawai Negeri Sipil", "Guru", "Karyawan Swasta",
                "Pedagang", "Belum/Tidak Bekerja", "Pensiunan", "Sopir", "Perawat")
_RELIGIONS = (("Kristen", 57), ("Islam", 34), ("Hindu", 6), ("Katolik", 2), ("Buddha", 1))
_BLOOD = ("A", "B", "AB", "O", "O+", "A+", "B+", "-", "-", "-")
# The reasons a synthetic citizen's finger is missing: the first three (the draw must stay
# the same for a seed, so the demo makes the same citizens as before).
_MISSING_REASONS = MISSING_FINGER_REASONS[:3]

# Birth dates: 1940-2006 keeps everyone 18+ from 2025 and the two-digit year unambiguous
# until 2040. Issue dates of family cards: 2005-2024.
_BORN_FIRST, _BORN_LAST = date(1940, 1, 1), date(2006, 12, 31)
_ISSUED_FIRST, _ISSUED_LAST = date(2005, 1, 1), date(2024, 12, 31)
_UNIQUE_TRIES = 1000


@dataclass(frozen=True, repr=False)
class SyntheticCitizen:
    """One fake person as they would present at the kiosk. ``repr`` is masked."""

    index: int
    nik: str
    kk: str
    demographics: Demographics
    language: str = DEFAULT_LANGUAGE
    assisted: bool = False
    missing_fingers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"SyntheticCitizen(#{self.index})"


def _random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _ddmmyy(d: date, day_offset: int = 0) -> str:
    return f"{d.day + day_offset:02d}{d.month:02d}{d.year % 100:02d}"


def _typed(rng: random.Random, digits: str) -> str:
    """Sometimes the way people type it: groups with spaces, dots or hyphens."""
    style = rng.random()
    if style < 0.8:
        return digits
    if style < 0.9:
        return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
    sep = "." if style < 0.95 else "-"
    return sep.join((digits[:4], digits[4:6], digits[6:12], digits[12:]))


def _name(rng: random.Random, sex: str) -> str:
    given = rng.choice(_MALE if sex == "M" else _FEMALE)
    parts = [given]
    if rng.random() < 0.6:
        parts.append(rng.choice(_MIDDLE))
    parts.append(rng.choice(_FAMILY))
    if rng.random() < 0.2:
        parts.insert(1, rng.choice(_MIDDLE))
    return " ".join(dict.fromkeys(parts))  # no part twice, e.g. "Ayu Ayu"


def _occupation(rng: random.Random, age: int) -> str:
    while True:
        job = rng.choice(_OCCUPATIONS)
        if (job == "Pensiunan" and age < 56) or (job == "Pelajar/Mahasiswa" and age > 25):
            continue
        return job


def citizens(seed: int) -> Iterator[SyntheticCitizen]:
    """Endless, deterministic, valid and eligible fake citizens of Poso for ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - deterministic fake data, not secrets
    names: set[str] = set()
    serials: dict[str, int] = {}  # NIK prefix (region + date) -> last serial used
    religions, weights = zip(*_RELIGIONS, strict=True)
    kecamatan_names = sorted(KECAMATAN)
    index = 0
    while True:
        sex = rng.choice(("M", "F"))
        for _ in range(_UNIQUE_TRIES):
            full_name = _name(rng, sex)
            if full_name not in names:
                break
        else:
            raise RuntimeError("synthetic name pool exhausted")
        names.add(full_name)
        kecamatan = rng.choice(kecamatan_names)
        district, villages = KECAMATAN[kecamatan]
        born = _random_date(rng, _BORN_FIRST, _BORN_LAST)
        region = POSO_PROVINCE + POSO_REGENCY + district
        prefix = region + _ddmmyy(born, 40 if sex == "F" else 0)
        serial = serials.get(prefix, 0) + 1
        serials[prefix] = serial  # at most a few per prefix: 9999 is never reached
        nik = f"{prefix}{serial:04d}"
        kk = f"{region}{_ddmmyy(_random_date(rng, _ISSUED_FIRST, _ISSUED_LAST))}" \
             f"{rng.randrange(1, 10_000):04d}"
        age_in_2025 = 2025 - born.year
        married = age_in_2025 >= 22 and rng.random() < 0.75
        marital = "Kawin" if married else "Belum Kawin"
        if married and age_in_2025 >= 60 and rng.random() < 0.3:
            marital = "Cerai Mati"
        number = rng.randrange(1, 200)
        street = rng.choice(_STREETS)
        village = rng.choice(villages)
        address = (f"Dusun {rng.choice(('I', 'II', 'III', 'IV'))}" if street == "Dusun"
                   else f"{street} No. {number}")
        demographics = Demographics(
            full_name=full_name,
            place_of_birth=rng.choice(("Poso", "Tentena", "Poso", "Palu", "Wuasa",
                                       "Pendolo", "Ujung Pandang", "Manado", village)),
            date_of_birth=born,
            sex=sex,
            blood_type=rng.choice(_BLOOD),
            address=address,
            rt=f"{rng.randrange(1, 16):03d}",
            rw=f"{rng.randrange(1, 8):03d}",
            kelurahan_desa=village,
            kecamatan=kecamatan,
            religion=rng.choices(religions, weights)[0],
            marital_status=marital,
            occupation=_occupation(rng, age_in_2025),
            citizenship="WNI",
        )
        missing: dict[str, str] = {}
        if rng.random() < 0.03:
            missing[rng.choice(FINGERS)] = rng.choice(_MISSING_REASONS)
        assisted = bool(missing) or (age_in_2025 >= 75 and rng.random() < 0.5)
        yield SyntheticCitizen(
            index=index,
            nik=_typed(rng, nik),
            kk=_typed(rng, kk),
            demographics=demographics,
            language="en" if rng.random() < 0.1 else DEFAULT_LANGUAGE,
            assisted=assisted,
            missing_fingers=missing,
        )
        index += 1
