"""The pure parts of the GPU benchmarks (bench/gpu_train.py, bench/support/gpu_common.py):
the peak table MFU is read against, the run plan, and the data-loader verdict. The scripts
themselves run end to end with `bash bench/gpu_check.sh --quick`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_train():
    return load(BENCH / "gpu_train.py")


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA L40S", 362e12),
        ("Tesla T4", None),
    ],
)
def test_peak_flops_by_device_name(name, peak):
    common = load(BENCH / "support" / "gpu_common.py")
    assert common.peak_flops(name) == peak


def test_model_plan_takes_per_model_variants(gpu_train):
    args = gpu_train.parse_args(["--quick", "--models", "resnet18,vits16r224:ours+plain"])
    assert gpu_train.model_plan(args) == [
        ("resnet18", ["ours", "plain", "plain_gpu_decode"]),
        ("vits16r224", ["ours", "plain"]),
    ]
    with pytest.raises(SystemExit, match="unknown variant 'fast'"):
        gpu_train.make_variant("fast", args)


def test_loader_bound_when_workers_cannot_feed_the_model(gpu_train):
    report = gpu_train.ModelReport(
        "resnet50",
        flops_per_image=24e9,
        loader_per_worker={"ours": 300.0, "plain": 100.0},
        gpu_alone={"eager": {"images_per_s": 2000.0}},
    )
    ours, plain = gpu_train.bottleneck(report, workers=8)
    assert plain.startswith("plain: DATA-LOADER BOUND") and "20 workers would keep up" in plain
    assert ours.startswith("ours: model-bound")  # 8 x 300 >= 2000
    ours, _ = gpu_train.bottleneck(report, workers=6)
    assert "DATA-LOADER BOUND" in ours and "7 workers would keep up" in ours


def test_mfu_is_flops_times_rate_over_peak(gpu_train):
    report = gpu_train.ModelReport("resnet50", 24e9, {}, {})
    run = gpu_train.RunResult("resnet50", "plain", "plain", 8, True, "cpu", False, 0)
    run.images_per_s = 1000.0
    report.runs.append(run)
    gpu_train.finish_runs(report, {"peak_bf16_flops": 1e15})
    assert run.mfu == pytest.approx(0.024)
