"""Detection and segmentation trials to completion: time per epoch and the cudnn settings
the trial ran with (issue 18, item 4).

    python bench/gpu_detection.py [--quick] [--epochs 4] [--device auto|cuda|cpu]
        [--seeded] [--json F] [--markdown F]

Runs the example jobs `examples/jobs/object_detection.yml` (Faster R-CNN ResNet-50 FPN,
bundled raccoon photos) and `examples/jobs/instance_segmentation.yml` (Mask R-CNN ResNet-50
FPN, bundled coco_seg) through `automl job create`, from scratch (pretrained: false, so
nothing is downloaded), --epochs epochs each. Per trial: the training seconds and images/s
of every epoch (metrics.jsonl), the rest of each epoch (validation, checkpoints), the whole
job's wall time, the cudnn settings the trial logged (benchmark off for detection's
variable image sizes; deterministic only with a random_seed: --seeded adds a run of each
with random_seed 0 to see what determinism costs), and the trial's score.

--quick (and any run without CUDA): the tiny test detectors at 96-128 px, 1 epoch.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # gpu_common
from gpu_common import (  # noqa: E402
    append_markdown,
    device_info,
    fmt,
    job_create,
    markdown_table,
    pick_device,
    write_json,
)

REPO = Path(__file__).resolve().parents[1]
CASES = (  # (name, job file, model at full size, tiny model for --quick)
    ("faster_rcnn", "object_detection.yml", "fasterrcnn_resnet50_fpn", "test_tiny_fasterrcnn"),
    ("mask_rcnn", "instance_segmentation.yml", "maskrcnn_resnet50_fpn", "test_tiny_maskrcnn"),
)
QUICK_SETTINGS = {
    "min_size": 96,
    "max_size": 128,
    "training_batch_size": 4,
    "validation_batch_size": 4,
    "number_of_workers": 0,
}
CUDNN_LINE = re.compile(r"cudnn: benchmark=(\w+) deterministic=(\w+)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny detectors, CPU sizes")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--epochs", type=int, help="default 4 (1 with --quick)")
    parser.add_argument("--seeded", action="store_true", help="also run with random_seed 0")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="append a markdown section here")
    args = parser.parse_args()
    args.device = pick_device(args.device)
    if args.device == "cpu" and not args.quick:
        print("no CUDA device: running the --quick sizes on the CPU", flush=True)
        args.quick = True
    args.epochs = args.epochs or (1 if args.quick else 4)
    return args


def overrides(model: str, args: argparse.Namespace, seed: int | None) -> dict:
    settings = {
        "model_name": model,
        "pretrained": False,
        "number_of_epochs": args.epochs,
        "early_stopping": False,
        **(QUICK_SETTINGS if args.quick else {}),
    }
    if seed is not None:
        settings["random_seed"] = seed
    return settings


def run_case(name: str, job_file: str, model: str, args, work: Path, seed: int | None) -> dict:
    """One job through `automl job create`; the trial's epochs, cudnn settings and result."""
    run_dir = work / f"{name}-{'seeded' if seed is not None else 'default'}"
    extra = []
    for key, value in overrides(model, args, seed).items():
        extra += ["--set", f"training_parameters.{key}={json.dumps(value)}"]
    job_file = REPO / "examples" / "jobs" / job_file
    done, wall_s = job_create(job_file, run_dir, work / "home", args.device, extra)
    row = {"case": name, "model": model, "random_seed": seed, "wall_s": wall_s}
    if done.returncode != 0:
        row["error"] = (done.stderr or done.stdout)[-2000:]
        return row
    return {**row, **trial_figures(run_dir / "trials" / "0")}


def trial_figures(trial: Path) -> dict:
    records = [json.loads(line) for line in (trial / "metrics.jsonl").read_text().splitlines()]
    result = json.loads((trial / "result.json").read_text())
    log = (trial / "trial.log").read_text()
    cudnn = CUDNN_LINE.search(log)
    train_s = [r["train"].get("seconds") for r in records]
    steady = [r["train"]["images_per_s"] for r in records[1:] or records]
    elapsed = [r["elapsed_s"] for r in records]
    # the part of each epoch after training: validation, metrics, checkpoints, package
    starts = [0.0, *elapsed[:-1]]
    other_s = [
        round(b - a - (t or 0.0), 2) for a, b, t in zip(starts, elapsed, train_s, strict=True)
    ]
    return {
        "state": result["state"],
        "score": result["score"],
        "epochs": len(records),
        "train_s_per_epoch": train_s,
        "other_s_per_epoch": other_s[1:],  # the first also holds the trial's start-up
        "images_per_s": round(statistics.median(steady), 1),
        "trial_s": result["duration_s"],
        "cudnn_benchmark": cudnn.group(1) if cudnn else "not logged (CPU)",
        "cudnn_deterministic": cudnn.group(2) if cudnn else "not logged (CPU)",
    }


def report(rows: list[dict], info: dict, args) -> list[str]:
    header = [
        "case",
        "model",
        "seed",
        "state",
        "train s/epoch",
        "images/s",
        "eval+ckpt s/epoch",
        "trial s",
        "job wall s",
        "cudnn benchmark",
        "cudnn deterministic",
    ]
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["case"], r["model"], _seed(r), "FAILED"] + [None] * 7)
            continue
        table.append(
            [
                r["case"],
                r["model"],
                _seed(r),
                r["state"],
                _median(r["train_s_per_epoch"]),
                r["images_per_s"],
                _median(r["other_s_per_epoch"]),
                r["trial_s"],
                r["wall_s"],
                r["cudnn_benchmark"],
                r["cudnn_deterministic"],
            ]
        )
    lines = [
        f"device: {info['name']}, torch {info['torch']}, cudnn {info.get('cudnn')}, "
        f"{args.epochs} epochs from scratch",
        *markdown_table(header, table),
    ]
    lines += [
        f"{r['case']} failed: {r['error'].strip().splitlines()[-1]}" for r in rows if "error" in r
    ]
    print("\n".join(lines), flush=True)
    return lines


def _seed(row: dict) -> str:
    return "none" if row["random_seed"] is None else str(row["random_seed"])


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> int:
    args = parse_args()
    info = device_info(args.device)
    rows = []
    seeds = (None, 0) if args.seeded else (None,)
    with tempfile.TemporaryDirectory(prefix="gpu_detection_") as tmp:
        for name, job_file, model, tiny in CASES:
            for seed in seeds:
                print(f"== {name} (random_seed {seed})", flush=True)
                row = run_case(name, job_file, tiny if args.quick else model, args, Path(tmp), seed)
                rows.append(row)
                print(
                    f"   {row.get('state', 'FAILED')}, job {row['wall_s']} s, "
                    f"{fmt(row.get('images_per_s'))} images/s",
                    flush=True,
                )
                write_json(args.json, {"bench": "gpu_detection", "device": info, "runs": rows})
    lines = report(rows, info, args)
    append_markdown(args.markdown, f"Detection and segmentation trials ({info['name']})", lines)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
