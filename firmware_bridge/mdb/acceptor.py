"""The changer seen through the coin-acceptor interface the money path drives.

:class:`~firmware_bridge.runtime.money.MoneyPath` talks to a device in ccTalk
terms: positions 1-16, ``is_accepting``, ``push_credit`` and ``push_error`` with
ccTalk error codes.  :class:`ChangerAcceptor` maps those onto a
:class:`~.changer.CoinChanger` (coin type = position - 1), so the money path's
rules (decide, check the VMC allows it now, gate, credit only what the credit
sensor confirmed, one outcome per coin in arrival order) stay in one place.

ccTalk errors become what MDB can say: a coin that took credit but never
reached the credit sensor is "no credit", a coin pulled back is "possible
credited coin removal", a rejected coin is a slug; refusals (inhibited, VMC
silent, late decision) say nothing on MDB: the coin simply comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from coinval.catalogue import coins as catalogue_coins
from firmware_bridge.cctalk.headers import AcceptorError
from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.mdb.messages import MAX_COIN_TYPES, ChangerStatus

__all__ = ["ERROR_STATUS", "ChangerAcceptor", "coin_values"]

#: ccTalk error code -> the changer status reported on POLL (codes absent: nothing).
ERROR_STATUS: dict[int, ChangerStatus] = {
    AcceptorError.CREDIT_SENSOR_TIMEOUT: ChangerStatus.NO_CREDIT,
    AcceptorError.COIN_GOING_BACKWARDS: ChangerStatus.POSSIBLE_CREDITED_COIN_REMOVAL,
    AcceptorError.COIN_ON_STRING: ChangerStatus.POSSIBLE_CREDITED_COIN_REMOVAL,
    AcceptorError.SECOND_CLOSE_COIN: ChangerStatus.DOUBLE_ARRIVAL,
    AcceptorError.CREDIT_SENSOR_BLOCKED: ChangerStatus.COIN_JAM,
    AcceptorError.ACCEPT_GATE_CLOSED_NOT_OPEN: ChangerStatus.COIN_ROUTING_ERROR,
    AcceptorError.ACCEPT_GATE_OPEN_NOT_CLOSED: ChangerStatus.COIN_ROUTING_ERROR,
    AcceptorError.VALIDATION_SENSOR_NOT_READY: ChangerStatus.ACCEPTOR_UNPLUGGED,
}


def coin_values(cctalk_ids: Sequence[str | None]) -> list[int | None]:
    """Value in pence per position from ccTalk coin ids (``GB200A`` -> 200), from the catalogue."""
    by_id = {spec.cctalk_id: spec.value_pence for spec in catalogue_coins().values()}
    return [by_id.get(cid) if cid else None for cid in cctalk_ids]


class ChangerAcceptor:
    """A :class:`CoinChanger` with the coin-acceptor methods the money path calls.

    Parameters
    ----------
    changer : CoinChanger
        Shared with the MDB service; the caller holds its lock around every call.
    """

    #: The changer keeps every report until the VMC ACKs it: nothing is pushed out.
    overflow: Literal["hold"] = "hold"

    def __init__(self, changer: CoinChanger) -> None:
        self.changer = changer
        self._coin_ids: tuple[str | None, ...] = ()

    @property
    def coin_ids(self) -> tuple[str | None, ...]:
        """The ccTalk coin ids last given (position 1 = coin type 0), for logs."""
        return self._coin_ids

    @property
    def inhibit_mask(self) -> int:
        """The VMC's coin enables in ccTalk's form: bit n = position n + 1 = coin type n."""
        return self.changer.enables.coins

    @property
    def host_has_every_event(self) -> bool:
        """The VMC acknowledged every POLL item queued (deposits, statuses, slugs)."""
        return self.changer.unreported == 0

    @property
    def host_timeout_s(self) -> float:
        """The changer's VMC timeout."""
        return self.changer.vmc_timeout_s

    @property
    def last_credit_poll(self) -> float | None:
        """The VMC's last POLL."""
        return self.changer.last_poll

    @property
    def master_inhibit(self) -> bool:
        """No coin type enabled, or SETUP not read since the reset."""
        return self.changer.enables.coins == 0 or not self.changer.setup_read

    @property
    def sorter_paths(self) -> tuple[int, ...]:
        """Always 0: deposits go to the cash box."""
        return (0,) * MAX_COIN_TYPES

    def is_accepting(self, position: int, now: float) -> bool:
        """:meth:`CoinChanger.is_accepting` for coin type ``position - 1``."""
        return self.changer.is_accepting(position - 1, now)

    def set_coin_ids(self, cctalk_ids: Sequence[str | None]) -> None:
        """A new profile's coins (ccTalk ids, position 1 first) become the coin types' values."""
        self._coin_ids = tuple(cctalk_ids)
        self.changer.set_coin_values(coin_values(cctalk_ids))

    def push_credit(self, position: int, sorter_path: int | None = None) -> None:
        """A credited coin: deposited to the cash box as coin type ``position - 1``."""
        self.changer.push_deposit(position - 1)

    def push_error(self, code: int, *, coin: bool | None = None) -> None:
        """A coin not credited (or an alarm): the MDB status it maps to, or nothing."""
        status = ERROR_STATUS.get(code)
        if status is not None:
            self.changer.push_status(status)
        elif code == AcceptorError.REJECT_COIN:
            self.changer.push_slug()
