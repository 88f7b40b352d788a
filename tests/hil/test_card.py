"""Card reader cases only the pcsc backend has: an unknown reader, its self-test, and the
maintainer's ``kiosk hw card watch`` tool, on a private pcscd with the virtual card behind
vpcd (the session's ``pcscd`` fixture, ``tests/conftest.py``). If pcscd or vsmartcard-vpcd
is missing these FAIL: run ``make test``, which installs them.

What every card reader does (login, PIN retries, a pulled card, events) is checked once,
on every backend, in ``tests/contract/test_card.py``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.errors import DeviceNotFound
from kiosk.hardware.card.pivcard import PivCard
from kiosk.maintenance.card import watch_command

PIN = "123456"


# -- pcsc-only cases --------------------------------------------------------------------------
def test_pcsc_unknown_reader_is_not_found_naming_the_readers_seen(pcscd):
    from kiosk.hardware.card.pcsc import PcscCardReader

    reader = PcscCardReader(reader="No Such Reader")
    with pytest.raises(DeviceNotFound) as missing:
        reader.open()
    assert "No Such Reader" in str(missing.value)
    assert pcscd.reader_name(0) in str(missing.value)
    assert reader.closed


def test_pcsc_selftest_reports_the_reader(pcscd):
    from kiosk.hardware.registry import create_device

    ok, detail = create_device("card", {"type": "pcsc", "reader": "Virtual"}).selftest()
    assert ok and "Virtual PCD" in detail


def _config(tmp_path: Path, reader: str) -> object:
    path = tmp_path / "kiosk.toml"
    key = tmp_path / "central.pub"  # real hardware configured: no dev sealing key allowed
    key.write_text("unused by the card tests\n")
    path.write_text(f'[hardware.card]\ntype = "pcsc"\nreader = "{reader}"\n'
                    f'[sealing]\ncentral_key = "{key}"\n')
    return load_config(path, system_path=tmp_path / "none.toml")


def test_watch_prints_insertion_with_staff_id_and_removal(pcscd, tmp_path, capsys):
    from kiosk.hardware.card.vcard import VirtualCard

    card = VirtualCard(PivCard(pin=PIN, staff_id="STAFF-0042"), port=pcscd.port(1))
    result: list[int] = []
    watcher = threading.Thread(target=lambda: result.append(
        watch_command(_config(tmp_path, pcscd.reader_name(1)), 3.0)))
    watcher.start()
    try:
        time.sleep(0.5)
        card.insert()
        time.sleep(1.2)
        card.remove()
    finally:
        watcher.join(timeout=10)
        card.close()
    assert result == [0]
    out = capsys.readouterr().out.splitlines()
    inserted = [line for line in out if "card_inserted" in line]
    assert inserted and "staff_id='STAFF-0042'" in inserted[0]
    assert f"atr={card.card.atr.hex()}" in inserted[0]
    assert any("card_removed" in line for line in out)


def test_watch_without_the_reader_exits_1_with_the_reason(pcscd, tmp_path, capsys):
    assert watch_command(_config(tmp_path, "No Such Reader"), 1.0) == 1
    err = capsys.readouterr().err
    assert "No Such Reader" in err and "readers seen" in err
