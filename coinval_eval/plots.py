"""PNG figures for the reports (matplotlib, the optional ``plots`` extra).

* :func:`det_plot`: DET curves of coinval and the baselines;
* :func:`scaling_plot` and :func:`scaling_report`: how decision cost grows with
  batch size and trace length, from the pytest-benchmark JSON of
  ``benchmarks/test_scaling.py`` (``coinval bench scaling``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval_eval.errors import EvaluationError
from coinval_eval.speed import benchmark_measured, load_benchmarks

FloatArray = npt.NDArray[np.float64]

INSTALL_HINT = "matplotlib is not installed (pip install 'coinval[plots]')"


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def det_plot(
    curves: Mapping[str, FloatArray],
    n_genuine: int,
    n_fake: int,
    path: Path,
    title: str,
    points: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Draw DET curves: false acceptance against false rejection, log-log.

    Parameters
    ----------
    curves : mapping of method name to ndarray of shape (n_factors, 3)
        Columns factor, false rejection, false acceptance (see
        ``coinval_eval.accuracy.det_curve``); factor 1 is marked.
    n_genuine, n_fake : int
        Coins behind each rate: a rate of 0 is drawn at half of one coin,
        below a dashed line marking "none observed".
    path : Path
        PNG to write.
    title : str
    points : mapping of method name to (false rejection, false acceptance), optional
        Methods that give no score to sweep: their one operating point, drawn
        as a cross.
    """
    plt = _pyplot()
    fr_floor = 0.5 / max(n_genuine, 1)
    fa_floor = 0.5 / max(n_fake, 1)
    fig, ax = plt.subplots(figsize=(7.5, 6), dpi=120)
    for i, (name, curve) in enumerate(curves.items()):
        fr = np.maximum(curve[:, 1], fr_floor)
        fa = np.maximum(curve[:, 2], fa_floor)
        # Curves that coincide (separable data) stay visible: the first drawn widest.
        (line,) = ax.plot(
            fr,
            fa,
            marker=".",
            markersize=3,
            linewidth=max(0.8, 3.0 - 0.5 * i),
            alpha=0.85,
            label=name,
        )
        at_one = int(np.argmin(np.abs(curve[:, 0] - 1.0)))
        ax.plot(fr[at_one], fa[at_one], "o", color=line.get_color(), markersize=8)
    for name, (fr_point, fa_point) in (points or {}).items():
        ax.plot(
            max(fr_point, fr_floor),
            max(fa_point, fa_floor),
            "X",
            markersize=10,
            label=f"{name} (operating point only)",
        )
    ax.axhline(1.0 / max(n_fake, 1), color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(1.0 / max(n_genuine, 1), color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(fr_floor / 1.5, 1.05)
    ax.set_ylim(fa_floor / 1.5, 1.05)
    ax.set_xlabel(f"false rejection of genuine coins ({n_genuine:,} coins)")
    ax.set_ylabel(f"false acceptance, all counterfeits and look-alikes ({n_fake:,} coins)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    # Under the axes, not in them: the rates of zero are drawn along the bottom edge.
    fig.text(
        0.01,
        0.005,
        "dots: each method's own bound (factor 1); crosses: operating points; "
        "dashed: one coin. Below or left of the dashed lines: none observed.",
        fontsize=7,
        va="bottom",
    )
    fig.tight_layout(rect=(0.0, 0.03, 1.0, 1.0))
    fig.savefig(path)
    plt.close(fig)


# -- scaling -------------------------------------------------------------------

SWEEPS = {"test_scaling_batch_size": "batch", "test_scaling_trace_length": "length"}
"""Benchmark names (before any parameter) of each sweep."""
TABLE_HEAD = "| coins | eddy samples | rim samples | median ms | us per coin | coins/s | accepted |"
TABLE_ALIGN = "|---:|---:|---:|---:|---:|---:|---:|"


def scaling_rows(data: Mapping[str, Any]) -> dict[str, list[dict[str, float]]]:
    """The scaling benchmarks of a pytest-benchmark JSON, by sweep.

    Returns
    -------
    dict with keys "batch" and "length"
        Rows sorted by size, each with ``coins``, ``eddy_samples``,
        ``rim_samples``, ``median_s``, ``us_per_coin`` and ``coins_per_s``.
    """
    out: dict[str, list[dict[str, float]]] = {"batch": [], "length": []}
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info", {})
        sweep = SWEEPS.get(str(bench.get("name", "")).split("[", 1)[0])
        if sweep is None:
            continue
        median = float(bench["stats"]["median"])
        coins = float(extra["coins"])
        out[sweep].append(
            {
                "coins": coins,
                "eddy_samples": float(extra["eddy_samples"]),
                "rim_samples": float(extra["rim_samples"]),
                "median_s": median,
                "us_per_coin": 1e6 * median / coins,
                "coins_per_s": coins / median,
                "accepted_share": float(extra.get("accepted_share", float("nan"))),
            }
        )
    out["batch"].sort(key=lambda r: r["coins"])
    out["length"].sort(key=lambda r: r["eddy_samples"])
    return out


def scaling_markdown(rows: Mapping[str, Sequence[Mapping[str, float]]], measured: str) -> str:
    """Tables of the two sweeps, under ``measured``: the benchmark run's measured line."""
    lines = [
        "# How decision cost grows",
        "",
        measured,
        "",
        "By `benchmarks/test_scaling.py` (pytest-benchmark medians): signatures "
        "already in arrays to decisions (features and regions), on all cores. The profile is "
        "taught on head A (eddy 256, rim 1024 samples); other lengths are head A's coins "
        "resampled, so the accepted share shows how far the features stay length-invariant.",
        "",
        "## Batch size",
        "",
        TABLE_HEAD,
        TABLE_ALIGN,
    ]
    fmt = (
        "| {coins:,.0f} | {eddy_samples:,.0f} | {rim_samples:,.0f} | {ms:,.3f} "
        "| {us_per_coin:,.1f} | {coins_per_s:,.0f} | {pct:.1f} % |"
    )
    lines += [
        fmt.format(ms=1e3 * r["median_s"], pct=100 * r["accepted_share"], **r)
        for r in rows["batch"]
    ]
    lines += [
        "",
        "## Trace length",
        "",
        TABLE_HEAD,
        TABLE_ALIGN,
    ]
    lines += [
        fmt.format(ms=1e3 * r["median_s"], pct=100 * r["accepted_share"], **r)
        for r in rows["length"]
    ]
    return "\n".join(lines) + "\n"


def scaling_plot(rows: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> None:
    """Two panels: time per coin against batch size, and against trace length."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=120)
    batch = rows["batch"]
    if batch:
        x = [r["coins"] for r in batch]
        left.plot(x, [r["us_per_coin"] for r in batch], "o-", label="per coin")
        ax2 = left.twinx()
        ax2.plot(x, [1e3 * r["median_s"] for r in batch], "s--", color="tab:orange")
        ax2.set_ylabel("whole batch, ms (dashed)")
        ax2.set_yscale("log")
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("coins per batch")
        left.set_ylabel("microseconds per coin (solid)")
        left.set_title(
            f"batch size (eddy {batch[0]['eddy_samples']:.0f}, rim {batch[0]['rim_samples']:.0f})",
            fontsize=10,
        )
        left.grid(True, which="both", alpha=0.3)
    length = rows["length"]
    if length:
        x = [r["eddy_samples"] for r in length]
        right.plot(x, [r["us_per_coin"] for r in length], "o-")
        for r in length:
            right.annotate(
                f"rim {r['rim_samples']:.0f}",
                (r["eddy_samples"], r["us_per_coin"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, -10),
            )
        right.set_xscale("log", base=2)
        right.set_yscale("log")
        right.set_xlabel("eddy samples per trace (rim samples: twice as many)")
        right.set_ylabel("microseconds per coin")
        right.set_title(f"trace length ({length[0]['coins']:,.0f} coins per batch)", fontsize=10)
        right.grid(True, which="both", alpha=0.3)
    fig.suptitle("coinval: decision cost", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def scaling_report(benchmark_json: Path, out_dir: Path) -> list[Path]:
    """Write scaling.md and, with matplotlib, scaling.png; return the files written.

    Raises
    ------
    EvaluationError
        When ``benchmark_json`` is not JSON or holds no scaling benchmarks.
    OSError
        When a file cannot be read or written.
    """
    data = load_benchmarks(benchmark_json)
    rows = scaling_rows(data)
    if not rows["batch"] and not rows["length"]:
        raise EvaluationError(
            f"{benchmark_json}: no scaling benchmarks (run benchmarks/test_scaling.py)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "scaling.md"
    text = scaling_markdown(rows, benchmark_measured(data))
    written = [md]
    if matplotlib_available():
        png = out_dir / "scaling.png"
        scaling_plot(rows, png)
        text += "\n![How decision cost grows](scaling.png)\n"
        written.append(png)
    else:
        text += f"\n(No plot: {INSTALL_HINT}.)\n"
    md.write_text(text, encoding="utf-8")
    return written
