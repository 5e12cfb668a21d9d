"""A VMC and a changer on one simulated bus, two-byte words in between, faults optional."""

from __future__ import annotations

import random
from collections.abc import Callable

from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.mdb.framing import ResponseParser
from firmware_bridge.mdb.vmc import VendingController
from firmware_bridge.mdb.wire import TwoByteDecoder, encode_two_byte

#: 5p, 10p, 20p, 50p, £1, £2 as coin types 0-5.
VALUES = [5, 10, 20, 50, 100, 200]

Fault = Callable[[bytes], bytes]


def no_fault(data: bytes) -> bytes:
    return data


def random_faults(rng: random.Random, rate: float) -> Fault:
    """At most one fault per message: drop, duplicate or corrupt one byte."""

    def apply(data: bytes) -> bytes:
        if not data or rng.random() >= rate:
            return data
        i = rng.randrange(len(data))
        kind = rng.choice(("drop", "dup", "corrupt", "cut"))
        if kind == "drop":
            return data[:i] + data[i + 1 :]
        if kind == "dup":
            return data[: i + 1] + data[i:]
        if kind == "cut":
            return data[:i]
        return data[:i] + bytes((data[i] ^ rng.randrange(1, 256),)) + data[i + 1 :]

    return apply


class Bus:
    """Runs the VMC against the changer, one command cycle per :meth:`cycle`.

    ``to_changer`` applies to command blocks, ``to_vmc`` to responses; the
    VMC's handshake byte goes through ``handshake`` (clean unless a test
    asks: a lost ACK is MDB's one blind spot, tested on its own).
    """

    def __init__(
        self,
        changer: CoinChanger,
        vmc: VendingController | None = None,
        *,
        to_changer: Fault = no_fault,
        to_vmc: Fault = no_fault,
        handshake: Fault = no_fault,
    ) -> None:
        self.changer = changer
        self.vmc = vmc or VendingController()
        self.to_changer = to_changer
        self.to_vmc = to_vmc
        self.handshake = handshake
        self.changer_rx = TwoByteDecoder()
        self.vmc_rx = TwoByteDecoder()
        self.responses = ResponseParser()
        self.now = 0.0

    def _changer_hears(self, wire: bytes) -> bytes:
        words = self.changer_rx.feed(wire, self.now)
        replies = self.changer.receive_words(words, self.now)
        return b"".join(encode_two_byte(r.words) for r in replies)

    def cycle(self, step_s: float = 0.05) -> None:
        """One command, its response, the handshake (and one RET round)."""
        self.now += step_s
        self.responses.reset()
        command = encode_two_byte(self.vmc.request(self.now))
        reply = self.to_vmc(self._changer_hears(self.to_changer(command)))
        self.now += 0.001
        for _ in range(3):  # the first answer, and RET retransmissions
            answers = self.responses.feed(self.vmc_rx.feed(reply, self.now))
            answer = answers[0] if answers else None
            handshake = self.vmc.response(answer, self.now)
            if not handshake:
                return
            wire = self.handshake(encode_two_byte(handshake))
            reply = self.to_vmc(self._changer_hears(wire))
            self.responses.reset()
            if not reply:
                if handshake == (0xAA,):  # RET unanswered: the VMC gives up on it
                    self.vmc.response(None, self.now)
                return

    def run(self, cycles: int, step_s: float = 0.05) -> None:
        for _ in range(cycles):
            self.cycle(step_s)

    def start(self) -> None:
        """Until the VMC polls with coins enabled."""
        for _ in range(50):
            if self.vmc.phase == "poll" and self.changer.enables.coins:
                return
            self.cycle()
        raise AssertionError(f"the VMC never finished start-up: phase {self.vmc.phase}")
