"""A fake ``smbus2.SMBus``: the registers of one I2C fuel gauge, so the real ``gpio`` UPS
backend runs without a HAT. Used by ``tests/unit/test_power_gpio.py`` and as that backend's
emulator in ``tests/contract/test_power.py``."""

from __future__ import annotations

import errno


class FakeSMBus:
    """Registers of one I2C device as 16-bit words, served MSB first like the chips do."""

    def __init__(self, address: int, registers: dict[int, int]) -> None:
        self.address = address
        self.registers = dict(registers)
        self.reads: list[tuple[int, int]] = []
        self.closed = False
        self.fail: OSError | None = None

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        self.reads.append((i2c_addr, register))
        if self.fail is not None:
            raise self.fail
        if i2c_addr != self.address:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        word = self.registers[register]
        return [word >> 8, word & 0xFF][:length]

    def close(self) -> None:
        self.closed = True


def max17048(vcell: int = 0xD000, soc: int = 0x5780, crate: int = 0x0000) -> FakeSMBus:
    return FakeSMBus(0x36, {0x02: vcell, 0x04: soc, 0x16: crate})
