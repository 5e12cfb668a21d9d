"""The one exception of the accuracy trials: a setting or an input a trial cannot run with.

A front end (``coinval evaluate``, ``coinval bench``) turns it into its own
usage error, naming its own flag for :attr:`EvaluationError.setting`.
"""

from __future__ import annotations


class EvaluationError(ValueError):
    """A trial's setting out of range, an unknown head or family, or a teach that fails.

    Parameters
    ----------
    reason : str
        What is wrong, without the setting's name (``"must be >= 1, got 0"``).
    setting : str, optional
        The configuration field at fault (``"n"``, ``"head"``); None when no
        single setting is (a refused teach, a collection that cannot be read).
    """

    def __init__(self, reason: str, setting: str | None = None) -> None:
        super().__init__(reason if setting is None else f"{setting}: {reason}")
        self.reason = reason
        self.setting = setting
