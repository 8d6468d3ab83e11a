"""bench/search_efficiency.py (random vs TPE vs TPE + AutoMode's pruning): its arguments,
its drawn data set and its table; the search itself runs with `python
bench/search_efficiency.py --quick`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "search_efficiency.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("search_efficiency", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_efficiency"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_and_full_defaults_and_overrides(bench):
    quick = bench.parse_args(["--quick"])
    assert (quick.seeds, quick.max_trials, quick.size) == (3, 20, 16)
    full = bench.parse_args([])
    assert (full.seeds, full.max_trials, full.size, full.target) == (5, 40, 32, 0.9)
    assert full.methods == ["random", "tpe", "tpe+pruning"]
    mine = bench.parse_args(["--quick", "--seeds", "1", "--target", "0.5", "--methods", "tpe"])
    assert (mine.seeds, mine.target, mine.methods) == (1, 0.5, ["tpe"])


def test_bad_arguments_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--epochs", "2"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "grid"])


def test_drawn_set_has_every_shape(bench):
    images, labels = bench.draw_shapes(60, 16, seed=0)
    assert images.shape == (60, 3, 16, 16) and set(labels) == set(range(len(bench.SHAPES)))


def test_table_gives_the_ratio_to_random(bench):
    args = bench.parse_args(["--quick"])
    runs = {
        "random": [bench.result(8, 48, 10.0, True), bench.result(17, 96, 20.0, False)],
        "tpe+pruning": [bench.result(4, 10, 3.0, True), bench.result(2, 6, 1.0, True)],
    }
    table = bench.format_table(bench.summarize(runs), args)
    assert "| random | 12.5 |" in table and "| tpe+pruning | 3 |" in table
    assert "ratio tpe+pruning / random: trials 0.24" in table
