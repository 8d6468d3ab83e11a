"""What the GPU benchmarks share: the device and its peak, a GPU utilisation sampler, and
writing results (JSON + a markdown section). Imported by bench/gpu_train.py,
bench/gpu_detection.py and bench/yolo_vs_ultralytics.py, which put this folder on sys.path
(it is not a script: `make bench` runs bench/*.py only). Nothing here needs a GPU: on a CPU
every GPU figure is None."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# Dense bf16 tensor-core peaks (no sparsity), from the vendors' data sheets, by a part of
# torch.cuda.get_device_name(); the first match wins, so longer names come first.
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H200", 989e12),  # the H100's chip with more memory
    ("H100", 989e12),  # SXM
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)


def pick_device(name: str) -> str:
    """`auto` -> cuda when torch sees a GPU, else cpu; `cuda` without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch sees no CUDA device")
    return name


def peak_flops(device_name: str) -> float | None:
    """The device's dense bf16 peak in FLOP/s, None when not in the table (or a CPU)."""
    for part, flops in PEAK_BF16_FLOPS:
        if part.lower() in device_name.lower():
            return flops
    return None


def device_info(device: str) -> dict:
    """Name, peak and versions of what the numbers were measured on."""
    import torch

    info = {"device": device, "torch": torch.__version__, "name": "cpu", "peak_bf16_flops": None}
    if device.startswith("cuda"):
        info["name"] = torch.cuda.get_device_name(0)
        info["peak_bf16_flops"] = peak_flops(info["name"])
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["bf16"] = torch.cuda.is_bf16_supported()
    return info


def measured_matmul_flops(device: str, size: int = 8192, repeats: int = 10) -> float | None:
    """What this GPU reaches on a large bf16 matrix product (FLOP/s): the practical ceiling
    MFU can be read against beside the data-sheet peak. None on a CPU."""
    import torch

    if not device.startswith("cuda"):
        return None
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


class UtilSampler:
    """GPU utilisation (%) sampled every `interval` s in a thread, with wall-clock times,
    through NVML (nvidia-ml-py) or else `nvidia-smi`; `mean(start, end)` over a window.
    Does nothing where neither answers (a CPU machine)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._read = self._reader()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._read is not None

    def _reader(self):
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # no NVML library, no GPU: try the command
            pass
        if shutil.which("nvidia-smi") is None:
            return None
        command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]

        def read() -> float:
            out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
            return float(out.split()[0])

        try:
            read()
        except Exception:
            return None
        return read

    def start(self) -> UtilSampler:
        if self._read is not None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-util")
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append((time.time(), self._read()))
            except Exception:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def mean(self, start: float, end: float) -> float | None:
        """Mean utilisation (%) of the samples taken between wall times start and end."""
        inside = [value for t, value in list(self.samples) if start <= t <= end]
        return round(sum(inside) / len(inside), 1) if inside else None


def job_create(
    job_file: Path, run_dir: Path, home: Path, device: str, extra: list[str] = ()
) -> tuple[subprocess.CompletedProcess, float]:
    """`automl job create` as a user runs it (AUTOML_HOME isolated; on `cpu` the GPU hidden,
    since the job picks CUDA when it sees one); returns the finished process and seconds."""
    command = [sys.executable, "-m", "automl.cli.main", "job", "create", "--file"]
    command += [str(job_file), "--run-dir", str(run_dir), *extra]
    env = {**os.environ, "AUTOML_HOME": str(home)}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return done, round(time.perf_counter() - started, 1)


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")


def append_markdown(path: str | None, title: str, lines: list[str]) -> None:
    """One `## title` section appended to the markdown report (several scripts share it)."""
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(f"\n## {title}\n\n" + "\n".join(lines) + "\n")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    def cell(value) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def fmt(value, spec: str = ".1f", missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)
