"""Our YOLO trial against plain Ultralytics training, same settings, same data, one run.

    python bench/yolo_vs_ultralytics.py [--quick] [--model yolov8] [--model-size small]
        [--epochs 10] [--image-size 320] [--batch 8] [--data examples/data/raccoon]
        [--device auto|cpu|cuda] [--json F] [--markdown F]

1. `automl job create` trains one trial (Ultralytics' loop inside our adapter; validation
   by our DetectionEvaluator through the YOLO predictor).
2. Plain Ultralytics trains the same model (same YAML, same seed, from scratch unless
   --pretrained) with the same arguments on the same converted dataset, with its own
   validator, as `yolo train` would.

Printed: training images/s of both (training epochs only, validation excluded), the ratio
(goal >= 1.0 on a GPU, issue 18), and mAP@0.5 of both models scored by our evaluator on the
same validation manifest, plus Ultralytics' own mAP50 of the plain run (goal: the same mAP).
`--device auto` trains on CUDA when torch sees a GPU (both sides: the plain run takes the
trial's device), bf16 as the trial does. `--quick` (and any run without CUDA unless sizes
are given): the tiny test model at 64 px, 1 epoch, so the whole comparison runs on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # gpu_common
from gpu_common import (  # noqa: E402
    append_markdown,
    device_info,
    markdown_table,
    pick_device,
    write_json,
)

REPO = Path(__file__).resolve().parents[1]

JOB = """\
type: automl
task: {task}
target_column_name: label
training_data: {{type: mltable, path: {data}/train}}
validation_data: {{type: mltable, path: {data}/valid}}
limits: {{max_trials: 1}}
training_parameters:
  model_name: {model}
  model_size: {size}
  pretrained: {pretrained}
  number_of_epochs: {epochs}
  training_batch_size: {batch}
  validation_batch_size: {batch}
  image_size: {image_size}
  number_of_workers: {workers}
  random_seed: 1
  early_stopping: false
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 64 px, 1 epoch")
    parser.add_argument("--model", default="yolov8")
    parser.add_argument("--model-size", default="small")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--data", default=str(REPO / "examples" / "data" / "raccoon"))
    parser.add_argument("--task", default="image_object_detection")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="append a markdown section here")
    args = parser.parse_args()
    args.device = pick_device(args.device)
    if args.quick:
        args.model, args.model_size, args.epochs = "test_tiny_yolo", "small", 1
        args.image_size, args.batch, args.workers = 64, 4, 0
    return args


def run_ours(args, workdir: Path) -> tuple[dict, Path]:
    """One trial through `automl job create`; returns (result.json, trial dir)."""
    job = workdir / "job.yml"
    job.write_text(
        JOB.format(
            task=args.task,
            data=Path(args.data).resolve(),
            model=args.model,
            size=args.model_size,
            pretrained=str(args.pretrained).lower(),
            epochs=args.epochs,
            batch=args.batch,
            image_size=args.image_size,
            workers=args.workers,
        )
    )
    command = [sys.executable, "-m", "automl.cli.main", "job", "create", "--file", str(job)]
    command += ["--run-dir", str(workdir / "run"), "-o", "json"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    trial_dir = workdir / "run" / "trials" / "0"
    return json.loads((trial_dir / "result.json").read_text()), trial_dir


def our_images_per_second(trial_dir: Path) -> float:
    found = re.findall(r"training: ([0-9.]+) images/s", (trial_dir / "trial.log").read_text())
    return float(found[-1])


class Throughput:
    """Images/s over training epochs only (Ultralytics callbacks)."""

    def __init__(self) -> None:
        self.images, self.seconds, self.started = 0, 0.0, 0.0

    def epoch_start(self, trainer) -> None:
        self.started = time.monotonic()

    def batch_end(self, trainer) -> None:
        self.images += int(trainer.batch_size)

    def epoch_end(self, trainer) -> None:
        self.seconds += time.monotonic() - self.started


def run_plain(trial_dir: Path, workdir: Path) -> tuple[float, float, float]:
    """Plain Ultralytics with the trial's arguments; (images/s, its mAP50, our mAP)."""
    import torch

    from automl.engine.models._yolo import import_ultralytics
    from automl.engine.training._yolo import (
        YoloTrainingSettings,
        build_trial_model,
        build_validation,
        prepare_yolo_dataset,
        ultralytics_arguments,
    )
    from automl.engine.training.loop import Device, seed_everything
    from automl.engine.training.trainers import TrialInputs

    spec = json.loads((trial_dir / "spec.json").read_text())
    trial = TrialInputs.from_spec(spec)
    settings = YoloTrainingSettings.from_parameters(spec["training_parameters"])
    device = Device.from_name(spec["device"])
    torch.set_num_threads(max(1, int(spec.get("n_threads") or 1)))
    seed_everything(settings.random_seed)
    arguments = ultralytics_arguments(trial, settings, prepare_yolo_dataset(trial), device)
    arguments.update(project=str(workdir / "plain"), name="train")
    import_ultralytics()
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.models.yolo.segment import SegmentationTrainer

    trainer_class = SegmentationTrainer if arguments["task"] == "segment" else DetectionTrainer
    trainer = trainer_class(overrides=arguments)
    trainer.model = build_trial_model(trial, settings)
    meter = Throughput()
    trainer.add_callback("on_train_epoch_start", meter.epoch_start)
    trainer.add_callback("on_train_batch_end", meter.batch_end)
    trainer.add_callback("on_train_epoch_end", meter.epoch_end)
    trainer.train()
    their_map = float(trainer.metrics.get("metrics/mAP50(B)", float("nan")))
    validation = build_validation(trial, settings)
    values, _ = validation.evaluate(trainer.ema.ema, trainer.device, settings)
    return meter.images / max(meter.seconds, 1e-9), their_map, values["mean_average_precision"]


def main() -> int:
    args = parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if args.device == "cpu":  # job create picks CUDA when it sees a GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="yolo_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(workdir / "ultralytics_config"))
    result, trial_dir = run_ours(args, workdir)
    ours_speed = our_images_per_second(trial_dir)
    plain_speed, plain_their_map, plain_our_map = run_plain(trial_dir, workdir)
    figures = {
        "ours_images_per_s": round(ours_speed, 1),
        "plain_images_per_s": round(plain_speed, 1),
        "ratio": round(ours_speed / plain_speed, 3),
        "ours_map50": result["score"],
        "ours_best_epoch": result["best_epoch"],
        "plain_map50_our_evaluator": plain_our_map,
        "plain_map50_ultralytics": plain_their_map,
    }
    report(args, figures, workdir)
    return 0


def report(args, figures: dict, workdir: Path) -> None:
    """The comparison on stdout, and as JSON and a markdown section when asked."""
    info = device_info(args.device)
    setting = (
        f"{args.model} {args.model_size}, {args.epochs} epochs, imgsz {args.image_size}, "
        f"batch {args.batch}, workers {args.workers}, data {Path(args.data).name}, "
        f"device {info['name']}"
    )
    lines = [
        f"setting: {setting}",
        f"ours   : {figures['ours_images_per_s']:8.1f} training images/s, mAP@0.5 (our "
        f"evaluator) {figures['ours_map50']:.4f} (best epoch {figures['ours_best_epoch']})",
        f"plain  : {figures['plain_images_per_s']:8.1f} training images/s, mAP@0.5 (our "
        f"evaluator) {figures['plain_map50_our_evaluator']:.4f}, Ultralytics' own mAP50 "
        f"{figures['plain_map50_ultralytics']:.4f}",
        f"speed ratio ours/plain: {figures['ratio']:.3f} (goal >= 1.0 at equal mAP)",
    ]
    print("\n".join(lines) + f"\nrun folders under {workdir}", flush=True)
    write_json(
        args.json, {"bench": "yolo_vs_ultralytics", "device": info, "setting": setting, **figures}
    )
    rows = [
        ["ours (automl job create)", figures["ours_images_per_s"], figures["ours_map50"], None],
        [
            "plain Ultralytics",
            figures["plain_images_per_s"],
            figures["plain_map50_our_evaluator"],
            figures["plain_map50_ultralytics"],
        ],
    ]
    header = ["run", "images/s", "mAP@0.5 (ours)", "mAP50 (Ultralytics)"]
    append_markdown(
        args.markdown,
        f"YOLO: our trial vs plain Ultralytics ({info['name']})",
        [setting, "", *markdown_table(header, rows), "", lines[-1]],
    )


if __name__ == "__main__":
    sys.exit(main())
