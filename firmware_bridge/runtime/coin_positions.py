"""Taught coins as ccTalk positions: position n is the profile's n-th coin.

The host's inhibit mask (231) and coin ids (184) refer to positions, so a new
profile that moves a coin changes what the host's mask means.
"""

from __future__ import annotations

from collections.abc import Sequence

from coinval.catalogue import coins as catalogue_coins

__all__ = ["cctalk_ids", "position_changes"]


def cctalk_ids(coins: Sequence[str]) -> list[str | None]:
    """The ccTalk ids (``GB100B``...) of taught coins, position 1 first."""
    specs = catalogue_coins()
    return [specs[coin].cctalk_id for coin in coins]


def position_changes(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """What a new coin list does to the ccTalk positions, one phrase per position.

    Empty when the lists are equal.  A teach commit keeps every position and
    puts its new coin at the next one: a single "added" phrase.
    """
    changes = []
    for i in range(max(len(old), len(new))):
        before = old[i] if i < len(old) else None
        after = new[i] if i < len(new) else None
        if before == after:
            continue
        position = i + 1
        if after is None:
            changes.append(f"position {position} now empty (was {before})")
        elif before is None:
            changes.append(f"position {position} added: {after} ({cctalk_ids([after])[0]})")
        else:
            changes.append(
                f"position {position} changed: {before} -> {after} ({cctalk_ids([after])[0]})"
            )
    return changes
