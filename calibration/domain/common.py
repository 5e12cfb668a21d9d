"""Checks shared by the data functions."""

from __future__ import annotations

import re

from calibration.errors import InvalidError, NotFoundError
from coinval.catalogue import coins as catalogue_coins

_HEAD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def check_head(head: str) -> str:
    """A sensor head name: 1-64 letters, digits and ``._:-``."""
    if not _HEAD.match(head):
        raise InvalidError(
            f"head {head!r} is not a valid name (1-64 letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit)"
        )
    return head


def check_coin(coin: str) -> str:
    """A coin id of the catalogue."""
    known = catalogue_coins()
    if coin not in known:
        raise NotFoundError(f"unknown coin id {coin!r}; known: {', '.join(sorted(known))}")
    return coin
