"""Where the kiosk's trust in staff cards comes from: ``[staff] ca``, or the development CA
with the simulated reader only (``kiosk.runtime.load_staff_trust``), and what the runtime
hands the officer's login."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kiosk.config import load_config
from kiosk.hardware.card import devca
from kiosk.hardware.card.errors import CardNotTrusted, StaffLoginNotSetUp
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
