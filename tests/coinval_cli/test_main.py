"""The command tree: every subcommand's flags and handler load, and only when it runs."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from coinval_cli.main import build_parser, resolve

COMMANDS = {
    ("teach",),
    ("classify",),
    ("sim", "population"),
    ("sim", "head"),
    ("sim", "host"),
    ("sim", "vmc"),
    ("sim", "fleet"),
    ("serve",),
    ("run",),
    ("demo",),
    ("api",),
    ("central",),
    ("evaluate",),
    ("bench", "accuracy"),
    ("bench", "probe"),
    ("bench", "ceiling"),
    ("bench", "heads"),
    ("bench", "speed"),
    ("bench", "scaling"),
    ("bench", "summary"),
    ("plot",),
}


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from _subcommands(sub, (*path, name))


def test_every_subcommand_has_flags_and_a_handler_that_load() -> None:
    found = dict(_subcommands(build_parser()))
    assert set(found) == COMMANDS
    for path, parser in found.items():
        assert parser.format_help().startswith(f"usage: coinval {' '.join(path)}"), path
        assert callable(resolve(parser.get_default("handler"))), path


def test_classify_loads_neither_the_service_nor_the_simulator(tmp_path: Path) -> None:
    """``coinval classify`` runs on the core alone: no HTTP service, simulator or trials."""
    from coinval.teach import teach
    from sim.coins import TAUGHT_COINS
    from sim.population import generate, to_json_dicts

    samples = {c: generate(c, 12, head="A", seed=1).signatures() for c in TAUGHT_COINS}
    profile = tmp_path / "profile.json"
    teach(samples, head="A")[0].save(profile)
    coins = tmp_path / "coins.jsonl"
    coins.write_bytes(
        b"".join(
            orjson.dumps(obj) + b"\n"
            for obj in to_json_dicts(generate("gb-050-1997", 3, head="A", seed=2), "A")
        )
    )
    script = (
        "import sys\n"
        "from coinval_cli.main import main\n"
        f"code = main(['classify', '--profile', {str(profile)!r}, {str(coins)!r}])\n"
        "outside = {'sim', 'fastapi', 'uvicorn', 'calibration', 'firmware_bridge',\n"
        "           'coinval_eval'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in outside)\n"
        "print(loaded, file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    assert proc.stderr.strip().splitlines()[-1] == "[]"
