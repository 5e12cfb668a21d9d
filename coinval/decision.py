"""The decision of spec section 3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Reason = Literal["accepted", "counterfeit", "unknown", "inhibited", "invalid"]
REASONS: tuple[Reason, ...] = ("accepted", "counterfeit", "unknown", "inhibited", "invalid")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine decided for one coin.

    ``coin`` is set only for a genuine coin (accepted or inhibited): a
    counterfeit never carries the id of the coin it imitates.
    """

    id: str | None
    coin: str | None
    accepted: bool
    reason: Reason
    detail: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "coin": self.coin,
            "accepted": self.accepted,
            "reason": self.reason,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out
