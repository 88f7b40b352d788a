"""The address "as on your family card" is of the No. KK's region: its kecamatan filled in
from the KK's code (not the NIK's), and the kecamatan and village lists of the KK's
regency offered, which the page names. Review: a citizen born in Poso (NIK 72.02.01)
whose family card is of Banyumas (KK 33.02.01) found "Kecamatan: Poso Kota" filled in
and only Poso's kecamatan to choose from."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.enrollment import regions
from tests.unit.screens.harness import KK, NIK, Kit

BANYUMAS_KK = "3302011203150007"  # 33.02.01: Lumbir, Kabupaten Banyumas (Jawa Tengah)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = Kit(tmp_path)  # a kiosk of Poso (72.02)
    yield kit
    kit.close()


def to_details(kit: Kit, nik: str = NIK, kk: str = KK) -> None:
    kit.to("identity", "en")
    kit.type_identity(nik, kk)
    kit.tap("submit_identity")
    assert kit.flow.screen == "demographics", kit.flow.message.text("en")


def test_a_family_card_of_another_regency_gives_its_kecamatan_and_villages(kit: Kit) -> None:
    to_details(kit, NIK, BANYUMAS_KK)
    f = kit.flow
    assert dict(f.nik_facts())["Kecamatan"] == "Poso Kota"  # what the NIK says, as before
    assert f.form.values["kecamatan"] == "Lumbir"  # the KK's, not "Poso Kota"
    assert f.kk_facts() == [("Regency", "Kabupaten Banyumas, Jawa Tengah")]
    kecamatan = [value for value, _label in f.picker_options("kecamatan")]
    assert kecamatan == [name for _c, name in regions.districts("33", "02")]
    assert "Lumbir" in kecamatan and "Poso Kota" not in kecamatan
    villages = [value for value, _label in f.picker_options("kelurahan_desa")]
    assert villages == [name for _c, name in regions.villages("33", "02", "01")]
    other = next(name for name in kecamatan if name != "Lumbir")
    kit.tap("form_choose", "kecamatan", other)  # another kecamatan of Banyumas: its villages
    code = next(c for c, name in regions.districts("33", "02") if name == other)
    assert [v for v, _l in f.picker_options("kelurahan_desa")] == [
        name for _c, name in regions.villages("33", "02", code)]
    kit.tap("form_choose", "kecamatan", "Lumbir")
    kit.fill_demographics()  # chooses the first village of the list offered
    kit.tap("submit_demographics")
    assert f.screen == "portrait", f.message.text("en")
    assert f.session._demographics.kecamatan == "Lumbir"
    assert f.session._demographics.kelurahan_desa == villages[0]


def test_the_kiosks_own_regency_is_named_and_filled_in_from_the_kk(kit: Kit) -> None:
    """A NIK of Banyumas, a family card of Poso: filled in from the KK (before, from the
    NIK only when it was of the kiosk's regency: left empty here)."""
    to_details(kit, "3302015208850001", KK)
    f = kit.flow
    assert f.form.values["kecamatan"] == "Poso Kota"
    assert f.kk_facts() == [("Regency", "Kabupaten Poso, Sulawesi Tengah")]
    assert "Poso Kota" in [v for v, _l in f.picker_options("kecamatan")]


def test_a_family_card_changed_from_review_to_another_regency_asks_for_its_kecamatan(
        kit: Kit) -> None:
    kit.to("review", "en")
    f = kit.flow
    assert f.session._demographics.kecamatan == "Poso Kota"
    kit.tap("edit", "identity")
    kit.type_identity(NIK, BANYUMAS_KK)
    kit.tap("submit_identity")
    assert f.screen == "demographics"
    assert f.form.values["kecamatan"] == "Lumbir" and not f.form.values["kelurahan_desa"]
    assert f.kk_facts()[0][1].startswith("Kabupaten Banyumas")


def test_a_regency_the_region_data_does_not_know_offers_the_kiosks_lists(kit: Kit) -> None:
    """A KK code newer than the region data (72.99 is no regency): nothing filled in, and
    the kiosk's own lists rather than none (the kecamatan is required)."""
    to_details(kit, NIK, "7299011203150007")
    f = kit.flow
    assert f.form.values["kecamatan"] == ""
    assert f.kk_facts() == [("Regency", "Kabupaten Poso, Sulawesi Tengah")]
    assert "Poso Kota" in [v for v, _l in f.picker_options("kecamatan")]
