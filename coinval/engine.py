"""From signatures to decisions: features, classifier, inhibits and legal tender.

This is the one place where the pieces of spec section 3 meet; the CLI, the
serial bridge and the calibration service all decide coins through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from coinval.batch import SignatureBatch, group_by_shape
from coinval.catalogue import coins as catalogue_coins
from coinval.decision import Decision
from coinval.features import extract
from coinval.legal_tender import is_legal_tender
from coinval.profile import Profile
from coinval.signature import Signature, SignatureError, echo_id, parse_signature


class Engine:
    """Decides coins with one profile.

    Parameters
    ----------
    profile : Profile
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._specs = catalogue_coins()

    def enabled(self, coin: str, at: dt.datetime) -> bool:
        """Whether a recognised ``coin`` may be credited at ``at``."""
        if coin in self.profile.inhibited:
            return False
        override = self.profile.legal_tender_override.get(coin)
        if override is not None:
            return override
        return is_legal_tender(self._specs[coin], at)

    def decide_batch(self, batch: SignatureBatch, at: dt.datetime) -> list[Decision]:
        """Decide every coin of a batch of equal-length signatures, in order."""
        clf = self.profile.classifier
        feats = extract(batch)
        index, resembles = clf.predict(feats)
        ids = batch.ids or [None] * len(batch)
        out: list[Decision] = []
        for i, c in enumerate(index.tolist()):
            if c >= 0:
                coin = clf.coins_[c]
                if self.enabled(coin, at):
                    out.append(Decision(ids[i], coin, True, "accepted"))
                else:
                    out.append(Decision(ids[i], coin, False, "inhibited"))
            elif resembles[i]:
                out.append(Decision(ids[i], None, False, "counterfeit"))
            else:
                out.append(Decision(ids[i], None, False, "unknown"))
        return out

    def decide_signatures(self, signatures: Sequence[Signature], at: dt.datetime) -> list[Decision]:
        """Decide validated signatures of any mix of trace lengths, in order."""
        out: list[Decision | None] = [None] * len(signatures)
        for idx, batch in group_by_shape(signatures):
            for i, d in zip(idx, self.decide_batch(batch, at), strict=True):
                out[i] = d
        return [d for d in out if d is not None]

    def decide_objects(self, objects: Sequence[Any], at: dt.datetime) -> list[Decision]:
        """Validate and decide untrusted JSON objects; a bad one decides ``invalid``."""
        decisions: list[Decision | None] = [None] * len(objects)
        valid: list[Signature] = []
        where: list[int] = []
        for i, obj in enumerate(objects):
            try:
                valid.append(parse_signature(obj))
                where.append(i)
            except SignatureError as exc:
                decisions[i] = invalid(echo_id(obj), str(exc))
        for i, d in zip(where, self.decide_signatures(valid, at), strict=True):
            decisions[i] = d
        return [d for d in decisions if d is not None]


def invalid(coin_id: str | None, detail: str) -> Decision:
    """The decision for input that breaks the signature contract."""
    return Decision(coin_id, None, False, "invalid", detail)
