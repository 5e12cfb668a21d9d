"""The independent VMC against the test vectors of docs/mdb.md 6 and a scripted changer.

The scripted changer below is written from the spec too (it is the test's, not
coinval's): it checks that the VMC frames, handshakes, retries and credits as
MDB 4.2 says, before the VMC is let loose on ``coinval serve``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.firmware_bridge.mdb_independent.vmc_from_spec import (
    ACK,
    COIN_TYPE,
    EXPANSION,
    FEATURE_EXTENDED_DIAGNOSTIC,
    NAK,
    POLL,
    RESET,
    RET,
    SETUP,
    T_NON_RESPONSE_S,
    TUBE_STATUS,
    ChangerMissingError,
    ChangerSetup,
    CoinDeposited,
    CoinsDispensedManually,
    Identification,
    MdbError,
    Slugs,
    Status,
    TubeStatus,
    Vmc,
    Word,
    WordDecoder,
    checksum,
    command_block,
    decode_words,
    encode_words,
    interpret_reply,
    parse_diagnostic,
    parse_poll,
)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


def words(text: str) -> list[Word]:
    """docs/mdb.md's notation: ``10B`` has the mode bit, ``0B`` not."""
    return [Word(int(t[-2:], 16), len(t) == 3) for t in text.split()]


# ----------------------------------------------------------------- docs/mdb.md 6

SETUP_DATA = hexbytes("03 18 26 05 02 00 00 01 02 04 0A 14 28")
IDENT_DATA = (
    b"CVL" + b"000000000001" + b"COINVAL-MDB " + hexbytes("01 00") + hexbytes("00 00 00 02")
)


def test_vmc_blocks_are_the_documented_two_byte_vectors() -> None:
    assert encode_words(command_block(RESET)) == hexbytes("01 08 00 08")
    assert encode_words(command_block(POLL)) == hexbytes("01 0B 00 0B")
    assert encode_words(command_block(SETUP)) == hexbytes("01 09 00 09")
    assert encode_words(command_block(COIN_TYPE, hexbytes("00 3F 00 00"))) == hexbytes(
        "01 0C 00 00 00 3F 00 00 00 00 00 4B"
    )
    assert encode_words(command_block(EXPANSION, b"\x00")) == hexbytes("01 0F 00 00 00 0F")
    assert command_block(COIN_TYPE, hexbytes("00 3F 00 00")) == words("10C 00 3F 00 00 4B")
    assert encode_words([Word(ACK)]) == hexbytes("00 00")


def test_changer_vectors_decode_and_parse() -> None:
    assert interpret_reply(decode_words(hexbytes("01 00"))).kind == "ack"
    just_reset = interpret_reply(decode_words(hexbytes("00 0B 01 0B")))
    assert just_reset.kind == "data"
    assert parse_poll(just_reset.data) == [Status(0x0B)]

    setup_wire = hexbytes(
        "00 03 00 18 00 26 00 05 00 02 00 00 00 00 00 01 00 02 00 04 00 0A 00 14 00 28 01 95"
    )
    setup_reply = interpret_reply(decode_words(setup_wire))
    assert setup_reply.kind == "data"
    assert setup_reply.data == SETUP_DATA
    setup = ChangerSetup.parse(setup_reply.data)
    assert (setup.level, setup.country, setup.currency) == (3, "1826", "826")
    assert (setup.scaling, setup.decimals, setup.routing) == (5, 2, 0)
    assert [setup.coin_value(t) for t in range(7)] == [5, 10, 20, 50, 100, 200, 0]

    deposit = interpret_reply(decode_words(hexbytes("00 42 00 00 01 42")))
    assert parse_poll(deposit.data) == [CoinDeposited(coin_type=2, routing=0, tube_count=0)]

    assert checksum(IDENT_DATA) == 0x55  # the documented CHK
    ident = Identification.parse(IDENT_DATA)
    assert (ident.manufacturer, ident.serial, ident.model) == (
        "CVL",
        "000000000001",
        "COINVAL-MDB ",
    )
    assert (ident.version, ident.features) == ("0100", FEATURE_EXTENDED_DIAGNOSTIC)

    tubes = interpret_reply([Word(0)] * 18 + [Word(0, True)])
    assert TubeStatus.parse(tubes.data) == TubeStatus(0, (0,) * 16)
    diag = interpret_reply(words("03 00 103"))
    assert parse_diagnostic(diag.data) == [(0x03, 0x00)]


def test_poll_items_and_refusals() -> None:
    assert parse_poll(hexbytes("23 0B 52 03 0D 94 01")) == [
        Slugs(3),
        Status(0x0B),
        CoinDeposited(coin_type=2, routing=1, tube_count=3),
        Status(0x0D),
        CoinsDispensedManually(coin_type=4, count=1, tube_count=1),
    ]
    assert parse_poll(hexbytes("F2 00")) == [CoinsDispensedManually(2, 7, 0)]
    assert parse_poll(hexbytes("72 00")) == [CoinDeposited(2, 3, 0)]  # routed to reject
    for bad in ("42", "00", "10", "94", "41" * 17):
        with pytest.raises(MdbError):
            parse_poll(hexbytes(bad))
    with pytest.raises(MdbError):
        interpret_reply(words("05"))  # no mode bit: not finished
    with pytest.raises(MdbError):
        interpret_reply(words("105 05"))
    assert interpret_reply(words("42 00 143")).kind == "bad_chk"
    with pytest.raises(MdbError):
        ChangerSetup.parse(hexbytes("03 1A 26 05 02 00 00"))  # not BCD


def test_word_decoder_skips_bytes_that_are_not_flags_and_joins_split_words() -> None:
    decoder = WordDecoder()
    assert decoder.feed(hexbytes("07 01")) == []
    assert decoder.feed(hexbytes("0B 00")) == [Word(0x0B, True)]
    assert decoder.feed(hexbytes("FF")) == [Word(0xFF)]
    assert decoder.dropped == 1


# ----------------------------------------------------------------- a scripted changer


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


class ScriptedChanger:
    """A changer per the spec, behind the Line protocol, on a fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.out = bytearray()
        self.commands: list[tuple[int, bytes]] = []
        self.handshakes: list[int] = []
        self.queue: list[bytes] = []  # activity waiting to be reported
        self.pending: bytes | None = None  # sent, not yet acknowledged
        self.enabled = 0
        self.corrupt_next = 0
        self.silent = False

    def deposit(self, coin_type: int) -> None:
        self.queue.append(bytes([0x40 | coin_type, 0]))

    def _data(self, data: bytes) -> list[Word]:
        chk = checksum(data)
        if self.corrupt_next:
            self.corrupt_next -= 1
            chk ^= 0x5A
        return [*(Word(b) for b in data), Word(chk, True)]

    def _answer(self, block: Sequence[Word]) -> list[Word] | None:
        body = bytes(w.value for w in block[:-1])
        if checksum(body) != block[-1].value:
            return None
        command, data = body[0], body[1:]
        self.commands.append((command, data))
        if command == RESET:
            self.enabled, self.pending = 0, None
            self.queue.insert(0, b"\x0b")
            return [Word(ACK, True)]
        if command == SETUP:
            return self._data(SETUP_DATA)
        if command == TUBE_STATUS:
            return self._data(bytes(18))
        if command == COIN_TYPE:
            self.enabled = int.from_bytes(data[:2], "big")
            return [Word(ACK, True)]
        if command == EXPANSION and data[:1] == b"\x00":
            return self._data(IDENT_DATA)
        if command == EXPANSION and data[:1] == b"\x01":
            return [Word(ACK, True)]
        if command == POLL:
            if self.pending is None and self.queue:
                self.pending = self.queue.pop(0)
            return [Word(ACK, True)] if self.pending is None else self._data(self.pending)
        return None

    def write(self, data: bytes) -> None:
        sent = decode_words(data)
        if self.silent:
            return
        if sent[0].mode:
            reply = self._answer(sent)
            if reply is not None:
                self.out += encode_words(reply)
            return
        self.handshakes.append(sent[0].value)
        if sent[0].value == ACK:
            self.pending = None
        elif sent[0].value == RET and self.pending is not None:
            self.out += encode_words(self._data(self.pending))

    def read(self, timeout_s: float) -> bytes:
        if self.out:
            data = bytes(self.out)
            self.out.clear()
            self.clock.t += 0.001
            return data
        self.clock.t += timeout_s
        return b""


def started(enable: int = 0b011011) -> tuple[Vmc, ScriptedChanger, FakeClock]:
    clock = FakeClock()
    changer = ScriptedChanger(clock)
    vmc = Vmc(changer, enable=enable, clock=clock, sleep=clock.sleep)
    vmc.start()
    return vmc, changer, clock


def test_start_resets_reads_setup_identifies_and_enables() -> None:
    vmc, changer, _ = started()
    sent = [(c, d.hex()) for c, d in changer.commands]
    assert sent == [
        (RESET, ""),
        (POLL, ""),
        (SETUP, ""),
        (TUBE_STATUS, ""),
        (EXPANSION, "00"),
        (EXPANSION, "0100000002"),
        (COIN_TYPE, "001b0000"),
    ]
    assert changer.handshakes == [ACK, ACK, ACK, ACK]  # just reset, SETUP, TUBE STATUS, ident
    assert vmc.record.just_resets == 1
    assert vmc.setup is not None and vmc.setup.scaling == 5
    assert changer.enabled == 0b011011


def test_a_deposit_is_credited_once_and_acknowledged() -> None:
    vmc, changer, _ = started()
    changer.deposit(4)
    vmc.run(0.5)
    assert [(c.coin_type, c.value, c.enabled) for c in vmc.record.credits] == [(4, 100, True)]
    assert changer.pending is None


def test_bad_checksum_is_naked_and_the_repeat_credited_once() -> None:
    vmc, changer, _ = started()
    changer.deposit(1)
    changer.corrupt_next = 1
    vmc.run(0.5)
    assert vmc.record.bad_checksums == 1
    assert vmc.record.naks_sent == 1
    assert NAK in changer.handshakes
    assert [c.value for c in vmc.record.credits] == [10]


def test_nak_and_ret_on_purpose_still_credit_once() -> None:
    vmc, changer, _ = started()
    vmc.nak_next = 2
    vmc.ret_next = 1
    changer.deposit(3)
    vmc.run(0.5)
    assert (vmc.record.naks_sent, vmc.record.rets_sent, vmc.record.ret_mismatches) == (2, 1, 0)
    assert [c.value for c in vmc.record.credits] == [50]


def test_a_credit_of_a_type_the_vmc_disabled_is_flagged() -> None:
    vmc, changer, _ = started(enable=0b000001)
    changer.deposit(5)
    vmc.run(0.3)
    assert [(c.coin_type, c.enabled) for c in vmc.record.credits] == [(5, False)]


def test_an_unsolicited_reset_makes_the_vmc_set_up_again() -> None:
    vmc, changer, _ = started()
    changer.queue.append(b"\x0b")
    changer.enabled = 0
    vmc.run(0.3)
    assert vmc.record.just_resets == 2
    assert [c for c, _ in changer.commands].count(SETUP) == 2
    assert changer.enabled == 0b011011


def test_a_silent_changer_is_retried_for_the_non_response_time_then_missing() -> None:
    vmc, changer, clock = started()
    changer.silent = True
    before = clock()
    assert vmc.transact(POLL) is None
    assert clock() - before >= T_NON_RESPONSE_S
    assert vmc.record.unanswered >= T_NON_RESPONSE_S / 0.005 - 1
    with pytest.raises(ChangerMissingError):
        vmc.poll()  # silent past the non-response time: RESET, which goes unanswered too
    assert vmc.record.missing == 1
