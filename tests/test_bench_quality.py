"""The pure parts of bench/quality.py: argument parsing, the synthetic data set it draws,
and the AutoMode / best-other ratio. The bench itself is run by hand (`--quick`)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_arguments_quick_and_sets(quality):
    args = quality.parse_args(["--quick", "--sets", "synthetic,chess"])
    assert args.sets == ["synthetic", "chess"] and args.max_trials == 3
    assert quality.budget_for(args, "chess") == quality.QUICK_BUDGET_S
    full = quality.parse_args([])
    assert full.sets == list(quality.SETS) and full.max_trials == 10
    # whole minutes: the job's timeout_minutes is an integer, as in Azure
    assert quality.budget_for(quality.parse_args(["--budget-s", "7"]), "raccoon") == 60
    assert quality.budget_for(quality.parse_args(["--budget-s", "90"]), "raccoon") == 120
    assert quality.budget_for(quality.parse_args(["--budget-s", "180"]), "raccoon") == 180
    with pytest.raises(SystemExit):
        quality.parse_args(["--sets", "cifar"])


def test_arms_pick_the_rows(quality):
    assert quality.parse_args([]).arms == {"a", "b", "c", "d"}
    assert quality.parse_args(["--arms", "b, c"]).arms == {"b", "c"}
    for bad in ("e", ","):
        with pytest.raises(SystemExit):
            quality.parse_args(["--arms", bad])


def test_synthetic_set_is_a_valid_jsonl_dataset_of_10_classes(quality, tmp_path):
    from PIL import Image

    from automl.engine.data.prepare import check_dataset

    folder = quality.draw_shapes(tmp_path / "shapes", n_train=20, n_valid=10)
    rows = [
        json.loads(x) for x in (folder / "train" / "annotations.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 20 and len({r["label"] for r in rows}) == 10
    with Image.open(folder / "train" / rows[0]["image_url"]) as image:
        assert image.size == (32, 32)
    report = check_dataset(folder, "image_classification")
    assert report.ok, report.problems


def test_ratio_is_automode_over_the_best_other_row(quality):
    rows = [
        quality.Row("s", "(a) Azure defaults, 1 trial", 0.5, 10),
        quality.Row("s", "(b) AutoMode, max_trials 3", 0.9, 10),
        quality.Row("s", "(c) plain torch loop", 0.6, 10),
        quality.Row("s", "(d) Ultralytics", None, 0, "n/a"),
    ]
    assert quality.automode_ratio(rows) == pytest.approx(1.5)
    assert "AutoMode / best other | 1.50" in quality.table(rows)
