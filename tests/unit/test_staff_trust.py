"""Where the kiosk's trust in staff cards comes from: ``[staff] ca``, or the development CA
with the simulated reader only (``kiosk.runtime.load_staff_trust``), with ``[staff] crl``,
and what the runtime hands the officer's login."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kiosk.config import load_config
from kiosk.hardware.card import devca
from kiosk.hardware.card.errors import CardNotTrusted, CardRevoked, StaffLoginNotSetUp
from kiosk.hardware.card.sim import SimCardReader
from kiosk.hardware.card.staff import staff_login
from kiosk.runtime import load_staff_trust
from tests.conftest import write_config


def test_the_simulated_reader_without_a_ca_trusts_the_development_ca(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    trust = load_staff_trust(load_config(write_config(tmp_path)))
    assert trust is not None and trust.development
    assert trust.cas == (devca.dev_ca_certificate(),)
    assert "development staff CA trusted (simulation only)" in caplog.text


def test_a_real_reader_without_a_ca_trusts_nothing(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    config = load_config(write_config(tmp_path, '[hardware.card]\ntype = "pcsc"\n'))
    assert load_staff_trust(config) is None
    assert "[staff] ca is not set" in caplog.text


@pytest.mark.parametrize("card", ["sim", "pcsc"])
def test_the_ca_file_is_all_that_is_trusted_when_set(tmp_path: Path, card: str) -> None:
    office = devca.make_ca_certificate(devca.derived_key(b"office"), "Office staff CA")
    (tmp_path / "staff-ca.pem").write_bytes(office.public_bytes(serialization.Encoding.PEM))
    config = load_config(write_config(
        tmp_path, f'[hardware.card]\ntype = "{card}"\n[staff]\nca = "staff-ca.pem"\n'))
    assert config["staff"]["ca"] == str(tmp_path / "staff-ca.pem")  # relative to the file
    trust = load_staff_trust(config)
    assert trust is not None and not trust.development
    assert trust.cas == (office,) and trust.source == str(tmp_path / "staff-ca.pem")
    if card == "sim":  # the simulated card's development certificate is not the office's
        with SimCardReader() as reader, pytest.raises(CardNotTrusted):
            staff_login(reader, "123456", trust=trust)


@pytest.mark.parametrize("content", [None, b"not a certificate"])
def test_an_unusable_ca_file_trusts_nothing_and_says_so(tmp_path, caplog, content):
    caplog.set_level(logging.ERROR)
    if content is not None:
        (tmp_path / "ca.pem").write_bytes(content)
    config = load_config(write_config(tmp_path, '[staff]\nca = "ca.pem"\n'))
    assert load_staff_trust(config) is None
    assert "officer login refused" in caplog.text


def test_no_trust_with_any_reader_but_the_simulated_one_refuses_the_login() -> None:
    from tests.unit.hardware.test_card_auth import Scripted

    with Scripted() as reader, pytest.raises(StaffLoginNotSetUp):
        staff_login(reader, "246810", trust=None)
    assert reader.sent == []


def test_the_development_ca_is_not_trusted_beside_real_hardware(tmp_path, caplog):
    """As the development central key: a kiosk with a real sensor and the simulated card
    reader (F2 moves its card, its PIN is in the config) lets no officer in."""
    caplog.set_level(logging.WARNING)
    config = load_config(write_config(
        tmp_path, '[hardware.fingerprint]\ntype = "zfm"\nport = "/dev/ttyAMA0"\n'
                  '[sealing]\ncentral_key = "c.pub"\n'))
    assert load_staff_trust(config) is None
    assert "hardware.fingerprint is real" in caplog.text


# -- [staff] crl ------------------------------------------------------------------------------
def _dev_crl_pem(*staff_ids: str, days_old: int = 1, valid_days: int = 30) -> bytes:
    issued = datetime.now(UTC) - timedelta(days=days_old)
    crl = devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(),
                          [devca.dev_card_certificate(s).serial_number for s in staff_ids],
                          last_update=issued, next_update=issued + timedelta(days=valid_days))
    return crl.public_bytes(serialization.Encoding.PEM)


def test_the_crl_beside_the_ca_revokes_its_cards(tmp_path: Path, caplog) -> None:
    """With the simulated reader and no ``[staff] ca`` the CRL is the development CA's."""
    caplog.set_level(logging.INFO)
    (tmp_path / "staff-crl.pem").write_bytes(_dev_crl_pem("STAFF-0001"))
    config = load_config(write_config(tmp_path, '[staff]\ncrl = "staff-crl.pem"\n'))
    assert config["staff"]["crl"] == str(tmp_path / "staff-crl.pem")  # relative to the file
    trust = load_staff_trust(config)
    assert trust is not None and trust.development and len(trust.crls) == 1
    assert trust.crl_source == str(tmp_path / "staff-crl.pem")
    assert "staff login refuses the cards revoked by CRL of CN=e-KTP" in caplog.text
    with SimCardReader() as reader, pytest.raises(CardRevoked):  # STAFF-0001, PIN 123456
        staff_login(reader, "123456", trust=trust)


@pytest.mark.parametrize("content", [None, b"", b"not a CRL", "another CA's"])
def test_an_unusable_crl_file_trusts_nothing_and_says_so(tmp_path, caplog, content):
    """Fail closed: a kiosk told to check a CRL it cannot use lets no officer in (citizens
    are still enrolled) rather than forget the revocations."""
    caplog.set_level(logging.ERROR)
    if content == "another CA's":
        key = devca.derived_key(b"another office")
        ca = devca.make_ca_certificate(key, "Another office")
        content = devca.issue_crl(key, ca, [1], last_update=datetime.now(UTC)).public_bytes(
            serialization.Encoding.PEM)
    if content is not None:
        (tmp_path / "crl.pem").write_bytes(content)
    config = load_config(write_config(tmp_path, '[staff]\ncrl = "crl.pem"\n'))
    assert load_staff_trust(config) is None
    assert "staff.crl" in caplog.text and "officer login refused" in caplog.text


def test_an_out_of_date_crl_is_used_with_a_warning(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    (tmp_path / "crl.pem").write_bytes(_dev_crl_pem("STAFF-0001", days_old=40))
    trust = load_staff_trust(load_config(write_config(tmp_path, '[staff]\ncrl = "crl.pem"\n')))
    assert trust is not None and len(trust.crls) == 1
    assert "is out of date since" in caplog.text and "stay refused" in caplog.text


def test_a_crl_is_no_trust_without_a_ca(tmp_path) -> None:
    (tmp_path / "crl.pem").write_bytes(_dev_crl_pem())
    config = load_config(write_config(
        tmp_path, '[hardware.card]\ntype = "pcsc"\n[staff]\ncrl = "crl.pem"\n'))
    assert load_staff_trust(config) is None


def test_the_runtime_reads_the_files_again_only_when_they_change(tmp_path, caplog) -> None:
    """``StaffTrustFiles``: the same answer while the files stay as they are (a login does
    not parse the CRL again), a new one when the CRL is replaced, removed or put back."""
    from kiosk.runtime import StaffTrustFiles

    caplog.set_level(logging.INFO)
    crl = tmp_path / "crl.pem"
    crl.write_bytes(_dev_crl_pem())
    files = StaffTrustFiles(load_config(write_config(tmp_path, '[staff]\ncrl = "crl.pem"\n')))
    first, stopped = files.current()
    assert first is not None and not stopped and first.revocation(
        devca.dev_card_certificate("STAFF-0001")) is None
    assert files.current()[0] is first
    assert "changed on disk" not in caplog.text

    replacement = tmp_path / "crl.new"
    replacement.write_bytes(_dev_crl_pem("STAFF-0001"))
    replacement.replace(crl)
    second = files.current()[0]
    assert second is not None and second is not first
    assert second.revocation(devca.dev_card_certificate("STAFF-0001")) is not None
    assert "staff.ca or staff.crl changed on disk: read again" in caplog.text

    crl.unlink()
    assert files.current() == (None, True)  # fails closed, and says it is the CRL
    crl.write_bytes(_dev_crl_pem())
    assert files.current()[0] is not None
