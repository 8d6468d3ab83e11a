"""`automl model explain` on the session's tiny trained models."""

from __future__ import annotations

import json

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
