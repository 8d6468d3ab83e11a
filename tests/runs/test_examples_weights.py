"""Examples say at the top whether they need pretrained weights; all others run offline."""

from pathlib import Path

import pytest

from automl.engine.config import load_job
from automl.engine.runs import weights_check

JOBS = Path(__file__).resolve().parents[2] / "examples" / "jobs"
NEEDS_WEIGHTS = "Needs pretrained weights"


def header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[: lines.index("type: automl")] if line.startswith("#"))


@pytest.mark.parametrize("path", sorted(JOBS.glob("*.yml")), ids=lambda p: p.name)
def test_example_says_whether_it_needs_weights(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(weights_check, "_cuda_available", lambda: False)
    job = load_job(path)
    missing = weights_check.missing_weights(weights_check.pretrained_models(job))
    if NEEDS_WEIGHTS in header(path):
        assert missing
        for command in weights_check.fetch_commands(missing):
            assert command in header(path)
    else:
        assert missing == [], f"{path.name} needs weights but does not say so at the top"


def test_most_examples_run_offline():
    needing = [p.name for p in JOBS.glob("*.yml") if NEEDS_WEIGHTS in header(p)]
    assert sorted(needing) == ["instance_segmentation.yml", "object_detection.yml"]
