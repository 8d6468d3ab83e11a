"""`automl model explain` on the session's tiny trained models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def test_explain_writes_a_png_and_npy_per_image(
    tmp_path, cli, multiclass_run, flower_image, crop_size
):
    images = tmp_path / "images"
    images.mkdir()
    flower_image.save(images / "a.jpg")
    flower_image.resize((50, 40)).save(images / "b.png")
    out = tmp_path / "out"
    code, stdout, err = cli(
        ["model", "explain", multiclass_run, "--input", images, "--method", "guided_gradcam",
         "--output-dir", out, "--output", "json"]
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert [line["filename"] for line in report["explanations"]] == ["a.jpg", "b.png"]
    for stem in ("a", "b"):
        attributions = np.load(out / f"{stem}.guided_gradcam.npy")
        assert attributions.shape == (3, crop_size, crop_size) and attributions.dtype == np.float32
        assert Image.open(out / f"{stem}.guided_gradcam.png").size == (2 * crop_size,) * 2
    index = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert index == report["explanations"]
    assert index[0]["visualizations"] == ["a.guided_gradcam.png"]


def test_explain_multilabel_writes_one_file_per_passing_class(
    tmp_path, cli, multilabel_run, chess_image, crop_size
):
    image = tmp_path / "board.jpg"
    chess_image.save(image)
    out = tmp_path / "out"
    code, stdout, err = cli(
        ["model", "explain", multilabel_run / "best_model", "--input", image,
         "--method", "xrai", "--n-steps", "2", "--confidence-score-threshold-multilabel", "0",
         "--output-dir", out, "--output", "json"]
    )  # fmt: skip
    assert code == 0, err
    [line] = json.loads(stdout)["explanations"]
    labels = line["labels"]
    assert line["explained_labels"] == labels  # threshold 0: every class passes
    assert sorted(p.name for p in out.glob("*.npy")) == sorted(line["attributions"])
    assert len(line["attributions"]) == len(labels) == len(line["visualizations"])
    for name in line["attributions"]:
        assert np.load(out / name).shape == (3, crop_size, crop_size)


def test_explain_text_output_names_the_files(tmp_path, cli, multiclass_run, flower_image):
    image = tmp_path / "one.jpg"
    flower_image.save(image)
    code, stdout, _ = cli(
        ["model", "explain", multiclass_run, "-i", image, "-m", "guided_backprop",
         "--no-attributions", "-d", tmp_path / "out"]
    )  # fmt: skip
    assert code == 0
    assert stdout.startswith("one.jpg: ") and "one.guided_backprop.png" in stdout
    assert not list((tmp_path / "out").glob("*.npy"))


def test_explain_refuses_n_steps_below_2(tmp_path, cli, multiclass_run, flower_image):
    image = tmp_path / "one.jpg"
    flower_image.save(image)
    code, _, err = cli(
        ["model", "explain", multiclass_run, "-i", image, "--n-steps", "1",
         "-d", tmp_path / "out"]
    )  # fmt: skip
    assert code == 1
    assert "n_steps must be an integer of at least 2, got 1" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_explain_names_a_missing_model(tmp_path, cli, flower_image):
    image = tmp_path / "one.jpg"
    flower_image.save(image)
    code, _, err = cli(["model", "explain", tmp_path / "nowhere", "-i", image])
    assert code == 1 and "error:" in err and "Traceback" not in err


def test_explain_a_detector_through_the_console_script(tmp_path, detector_package, street_image):
    """No --method: a detector is explained with drise; one PNG and one [objects, H, W]
    .npy per image, the index naming the object of each map."""
    images = tmp_path / "images"
    images.mkdir()
    street_image.save(images / "street.png")
    street_image.resize((40, 30)).save(images / "small.png")
    out = tmp_path / "out"
    automl = str(Path(sys.executable).with_name("automl"))
    result = subprocess.run(
        [automl, "model", "explain", str(detector_package("test_tiny_fasterrcnn")),
         "--input", str(images), "--n-masks", "8", "--mask-res", "4", "--seed", "1",
         "--output-dir", str(out), "--output", "json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = json.loads(result.stdout)["explanations"]
    assert [line["filename"] for line in lines] == ["small.png", "street.png"]
    for line, size in zip(lines, [(30, 40), (48, 64)], strict=True):
        stem = Path(line["filename"]).stem
        assert line["method"] == "drise" and line["n_masks"] == 8
        assert line["visualizations"] == [f"{stem}.drise.png"]
        maps = np.load(out / f"{stem}.drise.npy")
        assert maps.shape == (len(line["objects"]), *size) == (line["n_detected"], *size)
        assert maps.dtype == np.float32 and all(m.std() > 0 for m in maps)
        assert Image.open(out / f"{stem}.drise.png").width >= size[1]
    index = [json.loads(row) for row in (out / "explanations.jsonl").read_text().splitlines()]
    assert index == lines


def test_explain_a_detector_text_output_and_bad_mask_count(
    tmp_path, cli, detector_package, street_image
):
    image = tmp_path / "street.png"
    street_image.save(image)
    package = detector_package("test_tiny_yolo")
    code, stdout, err = cli(
        ["model", "explain", package, "-i", image, "-m", "drise", "--n-masks", "4",
         "--no-attributions", "-d", tmp_path / "out"]
    )  # fmt: skip
    assert code == 0, err
    assert stdout.startswith("street.png: ") and stdout.rstrip().endswith("street.drise.png")
    assert not list((tmp_path / "out").glob("*.npy"))
    code, _, err = cli(["model", "explain", package, "-i", image, "--mask-res", "1"])
    assert code == 1 and "mask_res must be an integer from 2 to 64, got 1" in err
    assert "Traceback" not in err
