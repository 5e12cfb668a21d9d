"""From signatures to decisions: features, classifier, inhibits and legal tender.

This is the one place where the pieces of spec section 3 meet; the CLI, the
serial bridge and the calibration service all decide coins through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch, group_by_shape, parse_batches
from coinval.catalogue import coins as catalogue_coins
from coinval.decision import REASONS, Decision
from coinval.features import extract_one, extract_rows, map_chunks
from coinval.legal_tender import LONDON, is_legal_tender
from coinval.profile import Profile
from coinval.signature import Signature, SignatureError, echo_id, parse_signature

ACCEPTED, COUNTERFEIT, UNKNOWN, INHIBITED, INVALID = (
    REASONS.index("accepted"),
    REASONS.index("counterfeit"),
    REASONS.index("unknown"),
    REASONS.index("inhibited"),
    REASONS.index("invalid"),
)


# Batches up to this size are decided on the calling thread in one go.
_FEW = 64
NO_LOSS_TRACES = (
    "eddy_lo_loss, eddy_hi_loss: required; this profile was taught with loss traces "
    "(signature v1.1), this signature has none"
)


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
        return self.inhibition(coin, at) is None

    def inhibition(self, coin: str, at: dt.datetime) -> str | None:
        """Why a recognised ``coin`` may not be credited at ``at``, or None when it may."""
        if coin in self.profile.inhibited:
            return f"{coin} is inhibited by the operator"
        override = self.profile.legal_tender_override.get(coin)
        if override is not None:
            return None if override else f"{coin} is refused by an operator override"
        spec = self._specs[coin]
        if is_legal_tender(spec, at):
            return None
        if (
            spec.legal_tender_until is not None
            and at.astimezone(LONDON).date() >= spec.legal_tender_until
        ):
            return f"{coin} is not legal tender since {spec.legal_tender_until.isoformat()}"
        since = spec.legal_tender_from.isoformat() if spec.legal_tender_from else "?"
        return f"{coin} is legal tender only from {since}"

    def decide_codes(
        self, batch: SignatureBatch, at: dt.datetime
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
        """Decide a batch as arrays, without building per-coin objects.

        Returns
        -------
        coin_index : ndarray of shape (n,)
            Index into ``profile.coins`` of the recognised coin, -1 when none.
        reason : ndarray of shape (n,)
            Index into :data:`coinval.decision.REASONS`.
        """
        clf = self.profile.classifier
        if self.profile.requires_loss and not batch.has_loss:
            # A loss-taught region cannot judge a coin without its loss traces.
            n = len(batch)
            return np.full(n, -1, dtype=np.int64), np.full(n, INVALID, dtype=np.int8)
        no_coin = self.profile.no_coin
        index, resembles = map_chunks(batch, lambda part: clf.predict(extract_rows(part, no_coin)))
        return index, self._reasons(index, resembles, at)

    def _reasons(
        self, index: npt.NDArray[np.int64], resembles: npt.NDArray[np.bool_], at: dt.datetime
    ) -> npt.NDArray[np.int8]:
        """Each coin's reason code from its recognised coin (or -1) and resemblance."""
        clf = self.profile.classifier
        # Legal tender and inhibits of the coins recognised only: at the gate
        # that is one coin, not every taught one.
        enabled = np.zeros(len(clf.coins_) + 1, dtype=bool)
        for c in set(index.tolist()) - {-1}:
            enabled[c] = self.enabled(clf.coins_[c], at)
        recognised = index >= 0
        reason = np.where(
            recognised,
            np.where(enabled[index], ACCEPTED, INHIBITED),
            np.where(resembles, COUNTERFEIT, UNKNOWN),
        ).astype(np.int8)
        return reason

    def decide(self, signature: Signature, at: dt.datetime) -> Decision:
        """Decide the one coin at the gate.

        The same decision as :meth:`decide_batch` of a batch holding only this
        coin, without stacking one: its traces go to the features as one-row
        views, and the reason is read off the one recognised coin.
        """
        if self.profile.requires_loss and not signature.has_loss:
            return invalid(signature.id, NO_LOSS_TRACES)
        clf = self.profile.classifier
        features = extract_one(signature, self.profile.no_coin)
        index, resembles = clf.predict(features)
        c = int(index[0])
        if c >= 0:
            coin = clf.coins_[c]
            why = self.inhibition(coin, at)
            if why is None:
                return Decision(signature.id, coin, True, "accepted")
            return Decision(signature.id, coin, False, "inhibited", why)
        reason = REASONS[COUNTERFEIT] if resembles[0] else REASONS[UNKNOWN]
        return Decision(signature.id, None, False, reason, clf.explain(features)[0])

    def decide_batch(self, batch: SignatureBatch, at: dt.datetime) -> list[Decision]:
        """Decide every coin of a batch of equal-length signatures, in order.

        Refusals say why (``detail``): the measurements outside the nearest
        region, or what inhibits a recognised coin.
        """
        ids = batch.ids or [None] * len(batch)
        if self.profile.requires_loss and not batch.has_loss:
            return [invalid(coin_id, NO_LOSS_TRACES) for coin_id in ids]
        clf = self.profile.classifier
        features = None
        if len(batch) <= _FEW:
            # The gate's coin: its features serve the decision and, when refused,
            # the reason, extracted once.
            features = extract_rows(batch, self.profile.no_coin)
            index, resembles = clf.predict(features)
            reason = self._reasons(index, resembles, at)
        else:
            index, reason = self.decide_codes(batch, at)
        coins = clf.coins_
        details: list[str | None] = [None] * len(batch)
        refused = np.flatnonzero((reason == COUNTERFEIT) | (reason == UNKNOWN))
        if refused.size:
            part = (
                features.rows(refused)
                if features is not None
                else extract_rows(batch.take(refused), self.profile.no_coin)
            )
            for i, text in zip(refused.tolist(), clf.explain(part), strict=True):
                details[i] = text
        for i in np.flatnonzero(reason == INHIBITED).tolist():
            details[i] = self.inhibition(coins[index[i]], at)
        return [
            Decision(
                coin_id,
                coins[c] if c >= 0 else None,
                r == ACCEPTED,
                REASONS[r],
                detail,
            )
            for coin_id, c, r, detail in zip(
                ids, index.tolist(), reason.tolist(), details, strict=True
            )
        ]

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
        # Plain JSON signatures go by columns straight into batches; the rest
        # (every bad one among them) through parse_signature, one by one.
        groups, rest = parse_batches(objects)
        for idx, batch in groups:
            for i, d in zip(idx, self.decide_batch(batch, at), strict=True):
                decisions[i] = d
        valid: list[Signature] = []
        where: list[int] = []
        for i in rest:
            obj = objects[i]
            try:
                valid.append(parse_signature(obj))
                where.append(i)
            except SignatureError as exc:
                decisions[i] = invalid(echo_id(obj), str(exc))
        if valid:
            for i, d in zip(where, self.decide_signatures(valid, at), strict=True):
                decisions[i] = d
        return [d for d in decisions if d is not None]


def invalid(coin_id: str | None, detail: str) -> Decision:
    """The decision for input that breaks the signature contract."""
    return Decision(coin_id, None, False, "invalid", detail)
