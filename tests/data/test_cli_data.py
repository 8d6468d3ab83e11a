import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _support.jobs import write_job

from .conftest import BUNDLED, box, write_image, write_table

TASKS = {
    "flowers5": "image_classification",
    "chess_multilabel": "image_classification_multilabel",
    "raccoon": "image_object_detection",
    "coco_seg": "image_instance_segmentation",
}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_validate_every_bundled_dataset(cli, name):
    code, out, err = cli(["data", "validate", "--mltable", BUNDLED / name, "--task", TASKS[name]])
    assert code == 0, out + err
    assert "train:" in out and "valid:" in out and "ok," in out


def test_validate_names_each_bad_file_and_line(cli, tmp_path):
    copy = tmp_path / "raccoon"
    shutil.copytree(BUNDLED / "raccoon", copy)
    lines = (copy / "train" / "annotations.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    (copy / "train" / first["image_url"]).write_bytes(b"corrupt")
    bad_box = json.loads(lines[1])
    bad_box["label"][0]["bottomX"] = 1.7
    lines[1] = json.dumps(bad_box)
    lines[2] = lines[2][:-5]  # cut: malformed JSON
    (copy / "train" / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    code, out, err = cli(
        [
            "data",
            "validate",
            "--mltable",
            copy,
            "--task",
            "image_object_detection",
            "--output",
            "json",
        ]
    )
    assert code == 1 and "3 data problems" in err
    problems = json.loads(out)["problems"]
    assert len(problems) == 3
    assert "train/annotations.jsonl:1: image" in problems[0] and "not an image" in problems[0]
    assert "train/annotations.jsonl:2: object 0: box outside [0, 1]" in problems[1]
    assert "train/annotations.jsonl:3: malformed JSON" in problems[2]


def test_validate_needs_one_source(cli):
    code, _, err = cli(["data", "validate"])
    assert code == 2 and "exactly one of --file" in err
    code, _, err = cli(["data", "validate", "--mltable", "x", "--task", "image_classificaton"])
    assert code == 2 and "unknown task" in err


def test_convert_folder_to_mltable(cli, tmp_path):
    for i in range(12):
        write_image(tmp_path / "src" / ("ab"[i % 2]) / f"{i}.jpg", i)
    code, out, _ = cli(
        [
            "data",
            "convert",
            "--from",
            "folder",
            "--input",
            tmp_path / "src",
            "--output-dir",
            tmp_path / "out",
            "--json",
        ]
    )
    assert code == 0 and json.loads(out)["n_images"] == 12
    code, out, _ = cli(
        [
            "data",
            "validate",
            "--mltable",
            tmp_path / "out",
            "--task",
            "image_classification",
            "--output",
            "json",
        ]
    )
    assert code == 0 and json.loads(out)["summary"]["train"]["classes"] == {"a": 6, "b": 6}


def test_validate_job_file(cli, tmp_path):
    config = pytest.importorskip("automl.engine.config")
    if not hasattr(config, "load_job"):
        pytest.skip("automl.engine.config.load_job not available yet")
    job = write_job(tmp_path, "image_object_detection")
    code, out, err = cli(["data", "validate", "--file", job, "--output", "json"])
    assert code == 0, out + err
    assert json.loads(out)["summary"]["train"]["images"] == 40


def test_validate_with_no_readable_image_prints_no_none(tmp_path):
    """What a shell user sees (the installed script): no 'None - None', no '(mean None)'."""
    folder = tmp_path / "broken"
    rows = []
    for i in range(10):
        (folder / f"img{i}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"img{i}.jpg").write_bytes(b"not an image")
        rows.append({"image_url": f"img{i}.jpg", "label": [box()]})
    write_table(folder, rows)
    automl = str(Path(sys.executable).with_name("automl"))
    result = subprocess.run(
        [automl, "data", "validate", "--mltable", str(folder), "--task", "image_object_detection"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "None" not in result.stdout, result.stdout
    assert result.stdout.count("- (no usable image)") == 3  # width, height, objects per image
    assert "11 problems, 0 warnings" in result.stdout
