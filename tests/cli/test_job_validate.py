"""`automl job validate|render` and `automl schema show` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "examples" / "jobs" / "demo_classification.yml"
MINIMAL = """\
type: automl
task: image_classification
target_column_name: label
training_data: {path: train}
"""


@pytest.fixture
def job_file(tmp_path):
    (tmp_path / "train").mkdir()

    def write(text: str = MINIMAL) -> Path:
        path = tmp_path / "job.yml"
        path.write_text(text)
        return path

    return write


def test_validate_valid(cli, job_file):
    code, out, _ = cli(["job", "validate", "--file", job_file(), "--skip-data"])
    assert code == 0
    assert "valid image_classification job, mode single" in out


def test_validate_invalid_lists_every_problem(cli, job_file):
    path = job_file(MINIMAL + "limits: {max_trail: 3}\ntraining_parameters: {optimizer: rms}\n")
    code, out, err = cli(["job", "validate", "--file", path])
    assert code == 1
    assert f"{path}:5: $.limits.max_trail: unknown key; did you mean 'max_trials'?" in out
    assert f"{path}:6: $.training_parameters.optimizer: unknown value 'rms'" in out
    assert "error:" in err and "2 problems" in err


def test_validate_json(cli, job_file):
    path = job_file(MINIMAL + "compute: azureml:gpu\n")
    code, out, _ = cli(["job", "validate", "--file", path, "--output", "json", "--skip-data"])
    report = json.loads(out)
    assert code == 0
    assert report["valid"] is True and report["mode"] == "single" and report["errors"] == []
    assert "runs on this machine" in report["warnings"][0]
    code, out, _ = cli(["job", "validate", "--file", path, "-o", "json", "--set", "task=nope"])
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert "unknown value 'nope'" in report["errors"][0]


def test_validate_checks_the_data(cli, tmp_path):
    """With real data behind the paths, validate runs the dataset doctor too."""
    import shutil

    data = tmp_path / "flowers5"
    shutil.copytree(REPO_ROOT / "examples" / "data" / "flowers5", data)
    job = tmp_path / "job.yml"
    job.write_text(
        MINIMAL.replace("{path: train}", "{path: flowers5/train}")
        + "validation_data: {path: flowers5/valid}\n"
    )
    code, out, _ = cli(["job", "validate", "--file", job])
    assert code == 0 and "data checked" in out
    broken = next((data / "train" / "images").rglob("*.jpg"))
    broken.write_bytes(b"not a jpeg")
    code, out, err = cli(["job", "validate", "--file", job, "--output", "json"])
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert any(broken.name in problem for problem in report["errors"])
    code, _, _ = cli(["job", "validate", "--file", job, "--skip-data"])
    assert code == 0


def test_validate_set(cli, job_file):
    path = job_file()
    code, out, _ = cli(
        ["job", "validate", "--file", path, "--set", "limits.max_trials=3", "--skip-data"]
    )
    assert code == 0 and "mode automode" in out
    code, out, _ = cli(["job", "validate", "--file", path, "--set", "limits.max_trail=3"])
    assert code == 1 and "--set limits.max_trail=3: $.limits.max_trail" in out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("a: [1\n", "invalid YAML"),
        ("- 1\n", "must be a mapping"),
        ("type: automl\ntype: automl\n", "duplicate key 'type'"),
        (MINIMAL.replace("image_classification", "image_classifier"), "unknown value"),
    ],
)
def test_bad_input_never_tracebacks(cli, job_file, text, fragment):
    code, out, err = cli(["job", "validate", "--file", job_file(text)])
    assert code == 1
    assert fragment in out
    assert "Traceback" not in out + err


def test_validate_missing_file(cli, tmp_path):
    code, out, _ = cli(["job", "validate", "--file", tmp_path / "nope.yml"])
    assert code == 1 and "job file not found" in out


def test_render_prints_every_default(cli, job_file):
    from automl import schemas

    code, out, _ = cli(["job", "render", "--file", job_file()])
    assert code == 0
    for key in schemas.task_defaults("image_classification"):
        assert f"  {key}:" in out
    assert "timeout_minutes: 10080" in out and "validation_data_size: 0.2" in out


def test_render_json_and_errors(cli, job_file):
    code, out, _ = cli(
        [
            "job",
            "render",
            "--file",
            job_file(),
            "-o",
            "json",
            "--set",
            "training_parameters.model_name=vitb16r224",
        ]
    )
    assert code == 0
    assert json.loads(out)["training_parameters"]["training_batch_size"] == 48
    code, _, err = cli(["job", "render", "--file", job_file(MINIMAL + "max_trials: 2\n")])
    assert code == 1 and "error:" in err and "belongs under limits.max_trials" in err


def test_render_demo(cli):
    code, out, _ = cli(["job", "render", "--file", DEMO])
    assert code == 0 and "model_name: resnet18" in out and "pretrained: false" in out


def test_schema_show(cli):
    code, out, _ = cli(["schema", "show"])
    schema = json.loads(out)
    assert code == 0 and "image_object_detection" in schema["properties"]["task"]["enum"]
    code, out, _ = cli(["schema", "show", "--task", "image_instance_segmentation"])
    assert json.loads(out)["properties"]["task"]["const"] == "image_instance_segmentation"
    code, _, err = cli(["schema", "show", "--task", "segmentation"])
    assert code == 1 and "unknown task" in err
    code, out, _ = cli(["schema", "show", "--path"])
    assert out.strip().endswith("job.schema.json")


def test_version(cli):
    code, out, _ = cli(["--version"])
    assert code == 0 and out.startswith("automl-vision ")


def _modules_after(args: list[str]) -> set[str]:
    script = (
        "import sys\n"
        "from automl.cli.main import run\n"
        f"run({args!r})\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "args",
    [["--help"], ["job", "validate", "--file", str(DEMO)], ["job", "render", "--file", str(DEMO)]],
    ids=["help", "validate", "render"],
)
def test_cli_does_not_import_heavy_libraries(args):
    modules = _modules_after(args)
    assert "automl.cli.main" in modules
    assert not {"torch", "torchvision", "optuna", "ultralytics"} & modules
