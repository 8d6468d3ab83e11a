"""CUDA path (mixed precision, channels_last) end to end; skipped without a GPU."""

import json

import pytest
from _support.jobs import write_job

# resnet18 at 96 px: the mixed-precision and channels_last paths of a real backbone.
GPU_JOB = {"model": "resnet18", "epochs": 2, "training_crop_size": 96,
           "validation_resize_size": 110, "validation_crop_size": 96}  # fmt: skip


@pytest.mark.gpu
def test_job_trains_on_cuda_and_the_package_loads_on_cpu(tmp_path, cli):
    import torch

    from automl.engine.models import load_model_package

    job = write_job(tmp_path, **GPU_JOB)
    run_dir = tmp_path / "run"
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir, "-o", "json"])
    assert code == 0, err
    spec = json.loads((run_dir / "trials" / "0" / "spec.json").read_text())
    assert spec["device"] == "cuda"
    assert json.loads(out)["trials"][0]["state"] == "complete"
    model, meta = load_model_package(run_dir / "best_model")
    assert all(p.device.type == "cpu" for p in model.parameters())
    logits = model(torch.zeros(1, 3, 96, 96))
    assert logits.shape == (1, len(meta["labels"]))
