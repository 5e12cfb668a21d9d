"""``coinval plot``: the operator's picture of a profile in two chosen features.

Each taught coin's acceptance box at its mean teach temperature (centre plus
and minus its tolerance below and above) is drawn as a rectangle; the
signatures of a JSON Lines file are scattered over it, coloured by their
decision.  Decisions come from the lines themselves when they carry them (a
signature with ``reason`` and ``coin`` fields), from ``--decisions`` (the
output of ``coinval classify`` on the same file, line by line), or else are
made here with the profile.

Needs matplotlib (the ``plots`` extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinval_cli.errors import UsageError

DEFAULT_MAX_POINTS = 20_000
_REASONS = ("accepted", "inhibited", "counterfeit", "unknown", "invalid")


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval plot``: profile, input, decisions, the two features, the PNG."""
    parser.add_argument("--profile", required=True, metavar="PROFILE.json")
    parser.add_argument(
        "--input",
        required=True,
        metavar="SIGNATURES.jsonl",
        help="signatures to scatter (lines may also carry their decision: reason, coin)",
    )
    parser.add_argument("--x", required=True, metavar="FEATURE", help="feature on the x axis")
    parser.add_argument("--y", required=True, metavar="FEATURE", help="feature on the y axis")
    parser.add_argument("--out", required=True, metavar="PLOT.png", help="PNG to write")
    parser.add_argument(
        "--decisions",
        metavar="DECISIONS.jsonl",
        help="decisions for the input, line by line (coinval classify output)",
    )
    parser.add_argument(
        "--at",
        metavar="ISO_DATETIME",
        help="moment decisions are made for when the input carries none (default now)",
    )
    parser.add_argument(
        "--max-points",
        type=int,
        default=DEFAULT_MAX_POINTS,
        help=f"plot the first N signatures of the file (default {DEFAULT_MAX_POINTS})",
    )


@dataclass(frozen=True)
class Point:
    """One signature's position and the decision it got."""

    x: float
    y: float
    coin: str | None
    reason: str


def _check_features(args: argparse.Namespace) -> tuple[int, int]:
    from coinval.features import FEATURE_NAMES

    for flag, name in (("--x", args.x), ("--y", args.y)):
        if name not in FEATURE_NAMES:
            raise UsageError(
                f"{flag} {name!r} is not a feature; features: {', '.join(FEATURE_NAMES)}"
            )
    if args.x == args.y:
        raise UsageError("--x and --y must name two different features")
    return FEATURE_NAMES.index(args.x), FEATURE_NAMES.index(args.y)


def _read_json_lines(path: str, flag: str, limit: int | None = None) -> list[Any]:
    """Decoded objects of a JSON Lines file (None for a line that is not JSON)."""
    from coinval.jsonlines import read_lines

    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot open: {exc.strerror or exc}") from None
    out: list[Any] = []
    with stream:
        for line in read_lines(stream):
            out.append(line.obj if line.error is None else None)
            if limit is not None and len(out) >= limit:
                break
    return out


def _given_decision(obj: Any) -> tuple[str | None, str] | None:
    if isinstance(obj, dict) and obj.get("reason") in _REASONS:
        coin = obj.get("coin")
        return (coin if isinstance(coin, str) else None), str(obj["reason"])
    return None


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (the ``plots`` extra)."""
    return importlib.util.find_spec("matplotlib") is not None


def _points(
    args: argparse.Namespace, profile: Any, jx: int, jy: int
) -> tuple[list[Point], int, str]:
    """The plotted points, how many lines held no valid signature, and whence decisions."""
    from coinval.engine import Engine
    from coinval.features import extract_signatures
    from coinval.legal_tender import now, parse_moment
    from coinval.signature import Signature, SignatureError, parse_signature

    if args.max_points < 1:
        raise UsageError("--max-points must be >= 1")
    objs = _read_json_lines(args.input, "--input", limit=args.max_points)
    given: list[tuple[str | None, str] | None] = [_given_decision(o) for o in objs]
    if args.decisions:
        decided = _read_json_lines(args.decisions, "--decisions", limit=len(objs))
        if len(decided) < len(objs):
            raise UsageError(
                f"--decisions {args.decisions}: {len(decided)} lines for {len(objs)} input lines"
            )
        given = [_given_decision(d) for d in decided]
    sigs: list[Signature] = []
    where: list[int] = []
    for i, obj in enumerate(objs):
        try:
            sigs.append(parse_signature(obj))
            where.append(i)
        except SignatureError:
            continue
    skipped = len(objs) - len(sigs)
    if not sigs:
        hint = (
            " (these look like decisions: pass the signatures as --input and the decisions "
            "as --decisions)"
            if any(g is not None for g in given)
            else ""
        )
        raise UsageError(f"--input {args.input}: no valid signatures to plot{hint}")
    values = extract_signatures(sigs).values
    missing = [k for k, i in enumerate(where) if given[i] is None]
    source = "decisions as given"
    if missing:
        try:
            at = parse_moment(args.at) if args.at else now()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        made = Engine(profile).decide_signatures([sigs[k] for k in missing], at)
        source = f"decided at {at.isoformat(timespec='minutes')}"
        if len(missing) < len(where):
            source = f"decisions as given or {source}"
        for k, d in zip(missing, made, strict=True):
            given[where[k]] = (d.coin, d.reason)
    points = []
    for k, i in enumerate(where):
        decision = given[i]
        assert decision is not None
        points.append(Point(float(values[k, jx]), float(values[k, jy]), *decision))
    return points, skipped, source


def run_plot(args: argparse.Namespace) -> int:
    """Draw the profile's boxes and the input's signatures, and write the PNG."""
    from coinval.profile import ProfileError, load

    jx, jy = _check_features(args)
    try:
        profile = load(args.profile)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    for flag, name in (("--input", args.input), ("--decisions", args.decisions)):
        if name is not None and not Path(name).is_file():
            raise UsageError(f"{flag} {name}: cannot open: no such file")
    if not matplotlib_available():
        raise UsageError("coinval plot needs matplotlib: pip install 'coinval[plots]'")
    points, skipped, source = _points(args, profile, jx, jy)
    try:
        _draw(profile, points, args, jx, jy, source)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
    note = f"; {skipped} line(s) without a valid signature left out" if skipped else ""
    print(f"wrote {args.out}: {len(points)} signature(s){note}", file=sys.stderr)
    return 0


def boxes(
    profile: Any, jx: int, jy: int
) -> list[tuple[str, float, tuple[float, float] | None, tuple[float, float] | None]]:
    """Each taught coin's limits in the two features at its mean teach temperature.

    Returns
    -------
    list of (coin, temperature, x limits or None, y limits or None)
        None where the coin does not use that feature (an edge feature of a
        round coin): the box spans the whole axis there.
    """
    import numpy as np

    clf = profile.classifier
    centre, below, above = clf.bounds(np.asarray(clf.t_ref_, dtype=np.float64))
    used = clf.used_features()
    out = []
    for c, coin in enumerate(clf.coins_):
        limits = []
        for j in (jx, jy):
            lim = (float(centre[c, c, j] - below[c, c, j]), float(centre[c, c, j] + above[c, c, j]))
            limits.append(lim if used[c, j] else None)
        out.append((coin, float(clf.t_ref_[c]), limits[0], limits[1]))
    return out


_REJECT_STYLE = {
    "counterfeit": ("x", "tab:red"),
    "unknown": ("+", "dimgrey"),
    "invalid": ("1", "black"),
}


def _draw(
    profile: Any, points: list[Point], args: argparse.Namespace, jx: int, jy: int, source: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    regions = boxes(profile, jx, jy)
    palette = plt.get_cmap("tab10")
    colour = {coin: palette(i % 10) for i, (coin, *_rest) in enumerate(regions)}
    xs = [p.x for p in points] + [v for _, _, xl, _ in regions if xl for v in xl]
    ys = [p.y for p in points] + [v for _, _, _, yl in regions if yl for v in yl]
    pad_x = 0.05 * (max(xs) - min(xs) or 1.0)
    pad_y = 0.05 * (max(ys) - min(ys) or 1.0)
    xlim = (min(xs) - pad_x, max(xs) + pad_x)
    ylim = (min(ys) - pad_y, max(ys) + pad_y)

    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=120)
    for coin, t_ref, xl, yl in regions:
        if xl is None and yl is None:
            continue
        x0, x1 = xl or xlim
        y0, y1 = yl or ylim
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                fill=True,
                facecolor=(*colour[coin][:3], 0.08),
                edgecolor=colour[coin],
                linewidth=1.5,
                label=f"{coin} box at {t_ref:.1f} C",
            )
        )
        ax.annotate(coin, (x0, y1), fontsize=7, color=colour[coin], va="bottom")
    groups: dict[tuple[str, str | None], list[Point]] = {}
    for p in points:
        key = (p.reason, p.coin if p.reason in ("accepted", "inhibited") else None)
        groups.setdefault(key, []).append(p)
    for (reason, who), pts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        x = [p.x for p in pts]
        y = [p.y for p in pts]
        label = f"{reason} {who} ({len(pts)})" if who else f"{reason} ({len(pts)})"
        if reason == "accepted" and who in colour:
            ax.scatter(x, y, s=10, color=colour[who], label=label, zorder=3)
        elif reason == "inhibited":
            c = colour.get(who or "", "tab:blue")
            ax.scatter(x, y, s=14, facecolors="none", edgecolors=c, label=label, zorder=3)
        else:
            marker, c = _REJECT_STYLE.get(reason, ("x", "tab:red"))
            ax.scatter(x, y, s=18, marker=marker, color=c, label=label, zorder=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(args.x)
    ax.set_ylabel(args.y)
    head = profile.head or "unknown head"
    ax.set_title(f"{Path(args.input).name} on the profile of head {head}; {source}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    fig.text(
        0.01,
        0.005,
        "Boxes: per-feature limits at each coin's mean teach temperature. A coin is also tested "
        "at its own temperature,\njointly on the inductive features and on its edge count, so a "
        "point inside a box may still be refused.",
        fontsize=6.5,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(args.out)
    plt.close(fig)
