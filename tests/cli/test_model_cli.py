"""`automl model ...` end to end: register from a job, list/show/label/download/delete,
predict with --evaluate, export, serve over HTTP, and incremental training."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from _support.paths import BUNDLED_DATA_DIR
from _support.trained import run_job, write_trained_job

FLOWERS_VALID = BUNDLED_DATA_DIR / "flowers5" / "valid"


@pytest.fixture
def runs(classification_run, tmp_path, monkeypatch):
    """A working folder whose runs/ holds the trained job under the name 'flowers-job'."""
    (tmp_path / "runs").mkdir()
    os.symlink(classification_run, tmp_path / "runs" / "flowers-job")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))
    return tmp_path


def test_registry_commands(cli, runs):
    code, out, err = cli(
        [
            "model",
            "register",
            "--name",
            "flowers",
            "--job",
            "flowers-job",
            "--tag",
            "stage=dev",
            "--output",
            "json",
        ]
    )
    assert code == 0, err
    entry = json.loads(out)
    assert entry["version"] == "1" and entry["lineage"]["trial"] == 0
    assert entry["tags"] == {"stage": "dev"}
    code, out, err = cli(
        ["model", "register", "--name", "flowers", "--job", "flowers-job", "--trial", "0"]
    )
    assert code == 0 and "registered flowers:2 from job" in out
    assert cli(["model", "label", "flowers:1", "production"])[0] == 0
    code, out, _ = cli(["model", "show", "flowers@production", "--output", "json"])
    assert code == 0 and json.loads(out)["version"] == "1"
    code, out, _ = cli(["model", "list", "--output", "json"])
    assert [(e["version"], e["labels"]) for e in json.loads(out)] == [
        ("1", ["production"]),
        ("2", ["latest"]),
    ]
    code, out, _ = cli(["model", "show", "flowers"])
    assert code == 0 and "flowers:2" in out
    assert cli(["model", "download", "flowers:1", "--output-dir", runs / "dl"])[0] == 0
    assert (runs / "dl" / "model.pt").is_file()
    code, _, err = cli(["model", "delete", "flowers"])
    assert code == 2 and "--all" in err
    code, out, _ = cli(["model", "delete", "flowers:2"])
    assert code == 0 and "deleted flowers:2" in out
    code, _, err = cli(["model", "show", "flowers:2"])
    assert code == 1 and "no version '2'" in err
    code, _, err = cli(["model", "register", "--name", "x", "--path", runs, "--job", "j"])
    assert code == 2 and "exactly one of" in err


def test_predict_and_evaluate(cli, runs):
    code, out, err = cli(
        [
            "model",
            "predict",
            "flowers-job",
            "--input",
            FLOWERS_VALID,
            "--output-file",
            runs / "preds.jsonl",
            "--evaluate",
            "-o",
            "json",
        ]
    )
    assert code == 0, err
    lines = [json.loads(line) for line in (runs / "preds.jsonl").read_text().splitlines()]
    assert len(lines) == 50 and {"filename", "probs", "labels"} <= set(lines[0])
    summary = json.loads((runs / "runs" / "flowers-job" / "summary.json").read_text())
    result = json.loads(out)
    assert result["metrics"]["accuracy"] == pytest.approx(summary["best_trial"]["score"])
    assert result["n_predictions"] == 50 and result["output_file"] == str(runs / "preds.jsonl")
    code, _, err = cli(["model", "predict", "no-such-model", "--input", FLOWERS_VALID])
    assert code == 1 and "no registered model named 'no-such-model'" in err


def test_export_prints_the_largest_difference(cli, runs):
    code, out, err = cli(
        [
            "model",
            "export",
            "runs/flowers-job",
            "--format",
            "onnx",
            "--dynamic-batch",
            "--images",
            FLOWERS_VALID,
            "--output-file",
            runs / "m.onnx",
        ]
    )
    assert code == 0, err
    assert "inputs input1, outputs output1" in out and "largest difference" in out
    assert (runs / "m.onnx").is_file()


def test_serve_prints_a_key_and_requires_it(runs):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "AUTOML_ENDPOINT_KEY"}
    env.update(OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "automl.cli.main",
            "model",
            "serve",
            "runs/flowers-job",
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=runs,
    )
    try:
        key = _read_key(process)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        image = next((FLOWERS_VALID / "images" / "daisy").glob("*.jpg"))
        body = {
            "input_data": {
                "columns": ["image"],
                "data": [base64.b64encode(image.read_bytes()).decode()],
            }
        }
        assert httpx.post(f"{url}/score", json=body).status_code == 401
        response = httpx.post(f"{url}/score", json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and len(response.json()[0]["probs"]) == 5
    finally:
        process.terminate()
        process.wait(timeout=30)


def _read_key(process) -> str:
    for line in process.stderr:
        if line.startswith("endpoint key"):
            return line.rsplit(" ", 1)[1].strip()
    raise AssertionError("no key printed")


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the endpoint did not become ready")


@pytest.mark.slow
def test_incremental_training_starts_at_the_previous_metric(runs):
    """A job continued from the registered model of 'flowers-job' (checkpoint_model) scores
    about as well after one cautious epoch as the job did. (checkpoint_run_id resolves to the
    same best_model folder: tests/cli/test_job_runs.py and the incremental_training example in
    tests/cli/test_examples_run.py run it.)"""
    from automl.engine.registry import register_package

    previous = json.loads((runs / "runs" / "flowers-job" / "summary.json").read_text())
    register_package("flowers", runs / "runs" / "flowers-job" / "best_model")
    job = write_trained_job(runs / "jobs", "image_classification", "by-registry", epochs=1,
                            learning_rate=1e-5, checkpoint_model="flowers:1")  # fmt: skip
    result = run_job(job, runs / "runs" / "by-registry", cwd=runs)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["best_trial"]["score"] == pytest.approx(
        previous["best_trial"]["score"], abs=0.08
    )
    log = (runs / "runs" / "by-registry" / "trials" / "0" / "trial.log").read_text()
    assert "initial weights from" in log
