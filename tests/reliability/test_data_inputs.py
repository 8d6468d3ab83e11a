"""Hostile data inputs end in a per-line problem or a one-line error, never a traceback,
a hang or a memory blow-up: decompression bombs, devices and FIFOs where files should be,
huge lines and counts, deeply nested JSON, paths that leave the dataset folder.

Each test runs the installed `automl` console script, as a user or a cron job does.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from _support.jobs import write_job
from PIL import Image

AUTOML = str(Path(sys.executable).with_name("automl"))
MC = "image_classification"


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header declaring width x height pixels, with almost no data (~100 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def dataset(folder: Path, extra_rows: list, n_good: int = 12) -> Path:
    """`n_good` small distinct images (classes a/b) plus `extra_rows`, as JSONL + MLTable."""
    rows = []
    for i in range(n_good):
        path = folder / "images" / f"img{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), (i * 20 % 256, 40, 90)).save(path)
        rows.append({"image_url": f"images/img{i}.png", "label": "ab"[i % 2]})
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows + extra_rows]
    (folder / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "MLTable").write_text("paths:\n  - file: ./annotations.jsonl\n")
    return folder


def job_file(folder: Path, train: Path) -> Path:
    """A tiny job whose only data is the table `train` (validation split off it)."""
    return write_job(folder, training_data=train, validation_data=None)


def automl(*args, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOML, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def validate(folder: Path, env: dict | None = None, task: str = MC) -> list[str]:
    """The problems `automl data validate` finds (it must fail cleanly: exit 1, no traceback)."""
    result = automl("data", "validate", "--mltable", folder, "--task", task, "-o", "json", env=env)
    assert_clean_failure(result)
    return json.loads(result.stdout)["problems"]


def assert_clean_failure(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_decompression_bomb_is_a_problem_at_its_line_in_every_data_command(tmp_path):
    bomb_png(tmp_path / "data" / "images" / "bomb.png", 15000, 15000)  # 225 MP, over 179 MP
    folder = dataset(tmp_path / "data", [{"image_url": "images/bomb.png", "label": "a"}])
    (problem,) = validate(folder)
    assert "annotations.jsonl:13: image 'images/bomb.png'" in problem
    assert "pixels per image" in problem and "AUTOML_MAX_IMAGE_PIXELS" in problem

    job = job_file(tmp_path, folder)
    result = automl("job", "validate", "--file", job)
    assert_clean_failure(result)
    assert "annotations.jsonl:13: image 'images/bomb.png'" in result.stdout

    no_standby = {"AUTOML_STANDBY": "0"}  # refused at data preparation: no trial starts
    runs = tmp_path / "runs"
    result = automl("job", "create", "--file", job, "--runs-root", runs, env=no_standby)
    assert_clean_failure(result)
    assert "annotations.jsonl:13: image 'images/bomb.png'" in result.stderr
    (summary,) = (tmp_path / "runs").glob("*/summary.json")
    assert json.loads(summary.read_text())["status"] == "failed"  # not left "created"


def test_image_over_the_pixel_limit_is_a_problem_and_the_limit_can_be_raised(tmp_path):
    folder = dataset(tmp_path / "data", [])
    problems = validate(folder, env={"AUTOML_MAX_IMAGE_PIXELS": "700"})  # 32 x 24 = 768
    assert "32 x 24 = 768 pixels, more than the limit of 700" in problems[0]
    command = ["data", "validate", "--mltable", folder, "--task", MC]
    assert automl(*command, env={"AUTOML_MAX_IMAGE_PIXELS": "768"}).returncode == 0


def test_image_url_at_a_device_a_fifo_or_outside_the_folder_is_a_problem(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    depth = len(Path(tmp_path / "data").resolve().parts)
    rows = [
        {"image_url": "/dev/zero", "label": "a"},
        {"image_url": str(fifo), "label": "a"},
        {"image_url": "../" * depth + "etc/passwd", "label": "a"},
        {"image_url": "images", "label": "a"},  # a folder
    ]
    problems = validate(dataset(tmp_path / "data", rows))  # would fill memory or block before
    assert len(problems) == 4, problems
    assert "annotations.jsonl:13: image '/dev/zero'" in problems[0]
    assert "not a regular file" in problems[0] and "not a regular file" in problems[1]
    assert "annotations.jsonl:15:" in problems[2] and "not an image Pillow can read" in problems[2]
    assert "not a regular file" in problems[3]


def test_data_path_at_a_device_is_refused_without_reading_it(tmp_path):
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    (problem,) = validate(tmp_path / "zero.jsonl")
    assert "not a regular file" in problem


def test_jsonl_file_over_the_size_limit_is_one_error_naming_the_variable(tmp_path):
    folder = dataset(tmp_path / "data", [])
    (problem,) = validate(folder, env={"AUTOML_MAX_MANIFEST_BYTES": "100"})
    assert "larger than the limit of 100 bytes" in problem
    assert "AUTOML_MAX_MANIFEST_BYTES" in problem


def test_overlong_line_is_a_problem_at_its_line(tmp_path):
    rows = [{"image_url": "images/img0.png", "label": "x" * 5000}]
    folder = dataset(tmp_path / "data", rows)
    (problem,) = validate(folder, env={"AUTOML_MAX_MANIFEST_LINE_CHARS": "200"})
    assert "annotations.jsonl:13: line longer than the limit of 200 characters" in problem
    assert "AUTOML_MAX_MANIFEST_LINE_CHARS" in problem


def test_too_many_lines_is_one_error_naming_the_variable(tmp_path):
    (problem,) = validate(dataset(tmp_path / "data", []), env={"AUTOML_MAX_MANIFEST_LINES": "5"})
    assert "more than 5 lines" in problem and "AUTOML_MAX_MANIFEST_LINES" in problem


def test_deeply_nested_json_line_is_a_problem_not_a_recursion_error(tmp_path):
    rows = ['{"image_url": "images/img0.png", "label": ' + "[" * 100000 + "]" * 100000 + "}"]
    (problem,) = validate(dataset(tmp_path / "data", rows))
    assert "annotations.jsonl:13: JSON nested too deeply" in problem


@pytest.mark.parametrize(
    ("task", "label", "variable", "expected"),
    [
        (
            "image_object_detection",
            [{"label": "a", "topX": 0.1, "topY": 0.1, "bottomX": 0.5, "bottomY": 0.5}] * 6,
            "AUTOML_MAX_LABELS_PER_IMAGE",
            "label has 6 objects, more than the limit of 5 per image",
        ),
        (
            "image_instance_segmentation",
            [{"label": "a", "polygon": [[0.1, 0.1, 0.5, 0.1, 0.5, 0.5, 0.1, 0.5]]}],
            "AUTOML_MAX_POLYGON_POINTS",
            "object 0: 'polygon' has 4 points, more than the limit of 3 per object",
        ),
    ],
)
def test_label_counts_over_their_limit_are_problems(tmp_path, task, label, variable, expected):
    folder = dataset(tmp_path / "data", [{"image_url": "images/img0.png", "label": label}])
    limit = "5" if "LABELS" in variable else "3"
    problems = validate(folder, env={variable: limit}, task=task)
    (problem,) = [p for p in problems if "annotations.jsonl:13:" in p]
    assert f"annotations.jsonl:13: {expected}" in problem and variable in problem
