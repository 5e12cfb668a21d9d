"""The MDB line settings and the two-byte port (the UART itself needs hardware)."""

from __future__ import annotations

import termios

from firmware_bridge.mdb.words import vmc_block
from firmware_bridge.transport.mdb_serial import CMSPAR, open_word_port, uart_attrs


def test_uart_attrs_mark_space_and_marking() -> None:
    attrs = [termios.ISTRIP | termios.IGNPAR, 0, termios.CS7, 0, 9600, 9600, [0] * 32]
    space = uart_attrs(attrs, mark=False)
    mark = uart_attrs(space, mark=True)
    for a in (space, mark):
        assert a[0] & termios.PARMRK and a[0] & termios.INPCK and a[0] & termios.IGNBRK
        assert not a[0] & (termios.ISTRIP | termios.IGNPAR)  # all 8 bits, errors not dropped
        assert a[2] & termios.CSIZE == termios.CS8
        assert a[2] & termios.PARENB and a[2] & CMSPAR
    assert mark[2] & termios.PARODD and not space[2] & termios.PARODD
    assert attrs[0] == termios.ISTRIP | termios.IGNPAR  # the input is not changed


def test_two_byte_port_on_loop() -> None:
    port = open_word_port("loop://", nine_bit=False)
    try:
        port.write_words(vmc_block(0x0B))
        words: list[int] = []
        for _ in range(20):
            words += port.read_words(0.0)
            if len(words) == 2:
                break
        assert words == [0x10B, 0x0B]
    finally:
        port.close()
