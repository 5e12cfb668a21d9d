"""Sans-I/O vending machine controller (VMC) for one MDB coin changer, written from the spec.

:class:`VendingController` is the bus master's side: it says which command to
send next (:meth:`~VendingController.request`), takes the changer's response
or its absence (:meth:`~VendingController.response`) and says which handshake
to send back (ACK / RET / NAK, or nothing).  It does what a VMC does with a
changer:

1. RESET, then POLL until "changer was reset";
2. SETUP (feature level, currency, scaling, credit per coin type), EXPANSION
   IDENTIFICATION, FEATURE ENABLE, TUBE STATUS;
3. COIN TYPE: enables every coin type SETUP gives a value;
4. POLL, crediting each deposited coin at its SETUP value once the response
   has checked out, and ACKing it; a response that fails its CHK gets one RET,
   then a NAK (the changer keeps its data and sends it on the next POLL);
5. on "changer was reset" it reads SETUP and enables coins again; after
   :data:`~.timing.T_NON_RESPONSE_S` without an answer it starts over at RESET.

No I/O, no clock: every call takes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_bridge.mdb.framing import (
    BadResponse,
    DataResponse,
    PeripheralAck,
    PeripheralNak,
    PeripheralResponse,
)
from firmware_bridge.mdb.messages import (
    ChangerIdentity,
    ChangerSetup,
    ChangerStatus,
    CoinTypeEnables,
    Command,
    Expansion,
    PollItem,
    Route,
    decode_poll,
)
from firmware_bridge.mdb.timing import T_NON_RESPONSE_S
from firmware_bridge.mdb.words import ACK, NAK, RET, vmc_block

__all__ = ["Credit", "VendingController"]


@dataclass(frozen=True, slots=True)
class Credit:
    """A deposited coin the VMC credited."""

    coin_type: int
    value: int
    total: int


@dataclass
class VendingController:
    """The VMC's view of a coin changer (sans-I/O).

    Parameters
    ----------
    enable_mask : int or None
        Coin types to enable (bit n = type n); ``None``: every type SETUP gives a value.
    no_answer_reset_s : float
        Silence after which the changer is taken for gone and RESET again.

    Attributes
    ----------
    phase : str
        ``"reset"``, ``"await-reset"``, ``"setup"``, ``"identify"``, ``"features"``,
        ``"tubes"``, ``"enable"`` or ``"poll"``.
    setup, identity : ChangerSetup, ChangerIdentity or None
        What the changer said.
    credits : list of Credit
        Every coin credited, in order.
    items : list of PollItem
        Every POLL item accepted, in order (deposits, statuses, slugs).
    bad_responses, timeouts, resets_seen : int
    """

    enable_mask: int | None = None
    no_answer_reset_s: float = T_NON_RESPONSE_S
    phase: str = "reset"
    setup: ChangerSetup | None = None
    identity: ChangerIdentity | None = None
    credits: list[Credit] = field(default_factory=list)
    items: list[PollItem] = field(default_factory=list)
    total: int = 0
    bad_responses: int = 0
    timeouts: int = 0
    resets_seen: int = 0
    _command: tuple[int, bytes] | None = None
    _rets: int = 0
    _last_answer: float | None = None

    # ----------------------------------------------------------------- commands

    def request(self, now: float) -> tuple[int, ...]:
        """Words of the next command to send."""
        if self._last_answer is None:
            self._last_answer = now
        command, data = self._next_command()
        self._command = (command, data)
        self._rets = 0
        return vmc_block(command, data)

    def _next_command(self) -> tuple[int, bytes]:
        phase = self.phase
        if phase == "reset":
            return Command.RESET, b""
        if phase == "setup":
            return Command.SETUP, b""
        if phase == "identify":
            return Command.EXPANSION, bytes((Expansion.IDENTIFICATION,))
        if phase == "features":
            features = self.identity.features if self.identity else 0
            return Command.EXPANSION, bytes((Expansion.FEATURE_ENABLE,)) + features.to_bytes(
                4, "big"
            )
        if phase == "tubes":
            return Command.TUBE_STATUS, b""
        if phase == "enable":
            return Command.COIN_TYPE, self.enables().to_bytes()
        return Command.POLL, b""  # await-reset and poll

    def enables(self) -> CoinTypeEnables:
        """The COIN TYPE this VMC sends: the coin types it will credit."""
        valued = 0
        if self.setup is not None:
            for coin_type, credit in enumerate(self.setup.credits):
                if 0 < credit < 0xFF:
                    valued |= 1 << coin_type
        mask = valued if self.enable_mask is None else self.enable_mask & valued
        return CoinTypeEnables(coins=mask, dispense=0)

    # ---------------------------------------------------------------- responses

    def response(self, answer: PeripheralResponse | None, now: float) -> tuple[int, ...]:
        """Handle the changer's answer to the last command (``None``: none in time).

        Returns
        -------
        tuple of int
            The handshake to send now: ``(ACK,)``, ``(RET,)``, ``(NAK,)`` or
            nothing (after an ACK, a NAK or a silence from the changer).  After
            a RET, call :meth:`response` again with the retransmission.
        """
        if answer is None:
            self.timeouts += 1
            if self._last_answer is not None and now - self._last_answer > self.no_answer_reset_s:
                self.phase = "reset"
                self._last_answer = now
            return ()
        if isinstance(answer, BadResponse):
            self.bad_responses += 1
            if self._rets == 0:
                self._rets += 1
                return (RET,)
            return (NAK,)
        self._last_answer = now
        if isinstance(answer, PeripheralNak):
            return ()
        assert self._command is not None
        command, data = self._command
        if isinstance(answer, PeripheralAck):
            self._on_ack(command)
            return ()
        return self._on_data(command, data, answer)

    def _on_ack(self, command: int) -> None:
        if command == Command.RESET:
            self.phase = "await-reset"
        elif command == Command.COIN_TYPE:
            self.phase = "poll"
        elif command == Command.EXPANSION and self.phase == "features":
            self.phase = "tubes"

    def _on_data(self, command: int, data: bytes, answer: DataResponse) -> tuple[int, ...]:
        try:
            if command == Command.POLL:
                items = decode_poll(answer.data)
            elif command == Command.SETUP:
                self.setup = ChangerSetup.from_bytes(answer.data)
                self.phase = "identify" if self.setup.feature_level >= 3 else "tubes"
                return (ACK,)
            elif command == Command.EXPANSION and data[:1] == bytes((Expansion.IDENTIFICATION,)):
                self.identity = ChangerIdentity.from_bytes(answer.data)
                self.phase = "features"
                return (ACK,)
            elif command == Command.TUBE_STATUS:
                self.phase = "enable"
                return (ACK,)
            else:
                return (ACK,)
        except ValueError:
            self.bad_responses += 1
            return (NAK,)  # checks out but makes no sense: never guess at money
        for item in items:
            self._on_item(item)
        return (ACK,)

    def _on_item(self, item: PollItem) -> None:
        self.items.append(item)
        if item.kind == "status" and item.status == ChangerStatus.JUST_RESET:
            self.resets_seen += 1
            self.phase = "setup"
        elif item.kind == "deposited" and item.route in (Route.CASH_BOX, Route.TUBES):
            assert item.coin_type is not None
            value = self.setup.value_of(item.coin_type) if self.setup is not None else 0
            self.total += value
            self.credits.append(Credit(item.coin_type, value, self.total))
