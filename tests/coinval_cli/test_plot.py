"""`coinval plot`: taught acceptance boxes with signatures over them, and its errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from coinval.teach import teach
from coinval_cli import plot as cli_plot
from coinval_cli.main import main
from sim.coins import TAUGHT_COINS
from sim.population import generate, to_json_dicts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A profile taught on head A, and a mix of genuine coins and fakes."""
    root = tmp_path_factory.mktemp("plot")
    samples = {
        c: generate(c, 12, head="A", seed=1, wear=0.5, dirt=0.5).signatures() for c in TAUGHT_COINS
    }
    profile_path = root / "profile.json"
    teach(samples, head="A")[0].save(profile_path)
    lines = []
    for kind in ("gb-100-2017", "gb-200-1997", "ring-alloy-off", "euro-1"):
        batch = generate(kind, 5, head="A", seed=2, batch=1, temperature_c=(-10.0, 45.0))
        lines += [orjson.dumps(obj) for obj in to_json_dicts(batch, "A")]
    lines.append(b"not json")
    signatures = root / "mix.jsonl"
    signatures.write_bytes(b"\n".join(lines) + b"\n")
    return profile_path, signatures


def _plot(files: tuple[Path, Path], out: Path, *extra: str, x: str = "diameter_mm") -> int:
    profile, signatures = files
    return main(
        [
            "plot",
            "--profile",
            str(profile),
            "--input",
            str(signatures),
            "--x",
            x,
            "--y",
            "hi_vs_lo_ring",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_plot_writes_a_png(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    assert _plot(files, out, "--at", "2017-06-01") == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    err = capsys.readouterr().err
    assert "20 signature(s)" in err and "1 line(s) without a valid signature" in err


def test_decisions_from_classify_output(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib")
    profile, signatures = files
    decisions = tmp_path / "decisions.jsonl"
    assert main(["classify", "--profile", str(profile), "--at", "2017-06-01", str(signatures)]) == 0
    decisions.write_text(capsys.readouterr().out)
    out = tmp_path / "plot.png"
    assert _plot(files, out, "--decisions", str(decisions)) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    # Decisions alone carry no features to plot.
    assert _plot((profile, decisions), tmp_path / "no.png") == 2
    assert "--decisions" in capsys.readouterr().err


def test_unknown_feature_is_a_usage_error(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _plot(files, tmp_path / "plot.png", x="diameter") == 2
    err = capsys.readouterr().err
    assert "--x 'diameter' is not a feature" in err and "diameter_mm" in err
    assert not (tmp_path / "plot.png").exists()


def test_missing_files_are_usage_errors(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    profile, signatures = files
    assert _plot((profile, tmp_path / "none.jsonl"), tmp_path / "p.png") == 2
    assert "cannot open" in capsys.readouterr().err
    assert _plot((tmp_path / "none.json", signatures), tmp_path / "p.png") == 2
    assert "cannot read profile" in capsys.readouterr().err


def test_without_matplotlib(
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_plot, "matplotlib_available", lambda: False)
    assert _plot(files, tmp_path / "plot.png") == 2
    assert "pip install 'coinval[plots]'" in capsys.readouterr().err
