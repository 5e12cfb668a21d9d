"""Fixtures the command's tests share with others: the shared samples, a bench-k2 folder."""

from __future__ import annotations

from tests.coinval.conftest import samples_dir
from tests.coinval_eval.conftest import k2_folder

__all__ = ["k2_folder", "samples_dir"]
