"""Model quality for the same wall time: AutoMode against Azure's defaults, a plain torch
loop and Ultralytics' own trainer, in one run.

    python bench/quality.py [--quick] [--sets synthetic,flowers,chess,raccoon]
        [--budget-s S] [--max-trials N] [--arms a,b,c,d] [--workdir D] [--json F]
        [--markdown F]

For each data set (a synthetic one the bench draws: coloured shapes at 32 px, 10 classes;
the bundled flowers5, chess_multilabel and raccoon) and one CPU budget (whole minutes:
`timeout_minutes` is an integer), each row gets the same wall time, start-up and data
preparation included:

(a) `automl job create`, one trial, Azure's defaults (pretrained: false: offline);
(b) `automl job create` in AutoMode (`max_trials` > 1, `timeout_minutes` = the budget);
(c) a plain torch loop here: resnet18 from scratch, images resized to their native side
    (at most 64 px), horizontal flip only, SGD 0.05 with a cosine schedule fitted to the
    time left after the first epoch, batch 64; for detection torchvision's Faster R-CNN
    MobileNetV3-320 FPN from scratch, flip only, SGD 0.02, batch 4;
(d) Ultralytics' trainer with its defaults (yolo11n-cls / yolo11n from scratch, `time` =
    the budget), where it does the task (classification, detection), at the images'
    native size rounded to 32.

(a), (b) and (d) end themselves at the budget (the job's `timeout_minutes`, Ultralytics'
`time`); the bench stops one only when it overruns by STOP_GRACE_S, and prints the wall
time each took. Each row's score is the best validation primary metric it reached, scored
by our metrics for (a), (b), (c) and by Ultralytics' validator for (d) (top-1 accuracy;
mAP50). Printed: score and wall time per row, and the ratio AutoMode / best other per data
set. `--arms` runs a subset ((c) and (d) need (a) or (b) for the checked manifests).
`--quick`: a smaller synthetic set, 60 s per row and 3 AutoMode trials (about 15 minutes
for the four sets on a 2-core CPU); the full run gives each row 3-5 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "examples" / "data"
SETS = {
    "synthetic": ("image_classification", None),
    "flowers": ("image_classification", "flowers5"),
    "chess": ("image_classification_multilabel", "chess_multilabel"),
    "raccoon": ("image_object_detection", "raccoon"),
}
FULL_BUDGET_S = {"synthetic": 300, "flowers": 300, "chess": 180, "raccoon": 300}
QUICK_BUDGET_S = 60
STOP_GRACE_S = 20
SHAPES = ("circle", "square", "triangle", "cross", "ring")
COLOURS = ((220, 40, 40), (40, 80, 220))  # 5 shapes x 2 colours = 10 classes

JOB = """\
type: automl
task: {task}
target_column_name: label
training_data: {{type: mltable, path: {data}/train}}
validation_data: {{type: mltable, path: {data}/valid}}
limits: {{max_trials: {max_trials}, max_concurrent_trials: 1, timeout_minutes: {minutes}}}
training_parameters:
  pretrained: false
"""


@dataclass
class Row:
    """One line of the table."""

    data: str
    arm: str
    score: float | None
    wall_s: float
    note: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small synthetic set, 60 s a row")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated data sets")
    parser.add_argument("--budget-s", type=float, help="wall seconds per row (all sets)")
    parser.add_argument("--max-trials", type=int, help="AutoMode's max_trials (default 10)")
    parser.add_argument("--arms", default="a,b,c,d", help="the rows to run (default a,b,c,d)")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--markdown", help="append the table here")
    args = parser.parse_args(argv)
    args.sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in args.sets if name not in SETS]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {list(SETS)}")
    args.arms = {arm.strip() for arm in args.arms.split(",") if arm.strip()}
    if not args.arms or args.arms - set("abcd"):
        parser.error(f"--arms takes a comma-separated subset of a,b,c,d, got {args.arms}")
    if args.max_trials is None:
        args.max_trials = 3 if args.quick else 10
    return args


def budget_for(args: argparse.Namespace, name: str) -> float:
    """Seconds per row, whole minutes (`timeout_minutes` is an integer, as in Azure)."""
    seconds = args.budget_s or (QUICK_BUDGET_S if args.quick else FULL_BUDGET_S[name])
    return 60.0 * max(1, math.ceil(seconds / 60 - 1e-9))


# ---------------------------------------------------------------- the synthetic data set


def draw_shapes(folder: Path, n_train: int, n_valid: int, size: int = 32, seed: int = 0) -> Path:
    """Coloured shapes on noisy backgrounds, 10 classes (shape x colour), as a JSONL
    dataset with MLTable files: folder/train and folder/valid. Returns folder."""
    from automl.engine.data.converters import ANNOTATIONS_NAME, MLTABLE_TEXT

    rng = random.Random(seed)
    classes = [f"{colour}_{shape}" for colour in ("red", "blue") for shape in SHAPES]
    for split, count in (("train", n_train), ("valid", n_valid)):
        images = folder / split / "images"
        images.mkdir(parents=True, exist_ok=True)
        lines = []
        for index in range(count):
            label = classes[index % len(classes)]
            image = _shape_image(rng, label, size)
            image.save(images / f"{index:05d}.png")
            lines.append(json.dumps({"image_url": f"images/{index:05d}.png", "label": label}))
        (folder / split / ANNOTATIONS_NAME).write_text("\n".join(lines) + "\n")
        (folder / split / "MLTable").write_text(MLTABLE_TEXT.format(file=ANNOTATIONS_NAME))
    return folder


def _shape_image(rng: random.Random, label: str, size: int):
    from PIL import Image, ImageDraw

    colour_name, shape = label.split("_")
    base = COLOURS[0] if colour_name == "red" else COLOURS[1]
    colour = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in base)
    grey = rng.randint(90, 200)
    image = Image.new("RGB", (size, size), (grey, grey, grey))
    pixels = image.load()
    for _ in range(size * size // 8):  # speckle noise
        pixels[rng.randrange(size), rng.randrange(size)] = tuple(
            rng.randint(grey - 60, grey + 55) for _ in range(3)
        )
    radius = rng.uniform(0.22, 0.38) * size
    cx, cy = rng.uniform(radius, size - radius), rng.uniform(radius, size - radius)
    _draw(ImageDraw.Draw(image), shape, cx, cy, radius, colour, max(2, size // 12))
    return image


def _draw(draw, shape: str, cx: float, cy: float, r: float, colour, width: int) -> None:
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif shape == "cross":
        draw.line((cx - r, cy, cx + r, cy), fill=colour, width=width)
        draw.line((cx, cy - r, cx, cy + r), fill=colour, width=width)
    else:
        draw.ellipse(box, outline=colour, width=width)


# ---------------------------------------------------------------- (a) and (b): automl


def run_automl(name: str, task: str, data: Path, workdir: Path, budget_s: float, trials: int):
    """`automl job create` stopped at the budget; (best score, wall seconds, run dir)."""
    run_dir = workdir / f"{name}-{'automode' if trials > 1 else 'azure'}"
    job = run_dir.with_suffix(".yml")
    minutes = max(1, math.ceil(budget_s / 60))
    job.write_text(JOB.format(task=task, data=data, max_trials=trials, minutes=minutes))
    command = [sys.executable, "-m", "automl.cli.main", "job", "create", "--file", str(job)]
    command += ["--run-dir", str(run_dir), "-o", "json"]
    # The job's own timeout ends it (its trials stop, the best model is packaged); the bench
    # stops it only when it overruns that by more than the grace period.
    wall = run_for(command, budget_s + STOP_GRACE_S, run_dir.with_suffix(".log"))
    return best_trial_score(run_dir, task), wall, run_dir


def run_for(command: list[str], budget_s: float, log: Path) -> float:
    """Run `command` (own process group) until it ends or the budget is spent; then stop
    it (SIGTERM, SIGKILL after a grace period). Returns the wall seconds it ran."""
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
        try:
            process.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            _stop_group(process)
    return time.monotonic() - started


def _stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def best_trial_score(run_dir: Path, task: str) -> float | None:
    """The best validation primary metric any trial recorded (metrics.jsonl)."""
    from automl import schemas
    from automl.engine.metrics import primary_metric_key

    key = primary_metric_key(schemas.default_primary_metric(task))
    scores = []
    for path in run_dir.glob("trials/*/metrics.jsonl"):
        for line in path.read_text().splitlines():
            value = (json.loads(line).get("valid") or {}).get(key) if line.strip() else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                scores.append(float(value))
    return max(scores) if scores else None


def manifests(run_dir: Path) -> tuple[Path, Path]:
    """The checked manifests a run wrote (absolute image paths, normalised labels)."""
    return run_dir / "data" / "train.jsonl", run_dir / "data" / "valid.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- (c): a plain torch loop


def plain_loop(task: str, train_path: Path, valid_path: Path, budget_s: float) -> float | None:
    """resnet18 from scratch, flip only, SGD with a cosine fitted to the budget; the best
    validation primary metric (our metrics)."""
    import torch
    import torchvision

    from automl import schemas
    from automl.engine.metrics import classification_metrics, primary_metric_key

    started = time.monotonic()
    torch.manual_seed(0)
    train, valid = read_jsonl(train_path), read_jsonl(valid_path)
    labels = sorted({name for r in train + valid for name in _names(r["label"])})
    side = _native_side(train)
    x_train, y_train = _tensors(task, train, labels, side)
    x_valid, y_valid = _tensors(task, valid, labels, side)
    model = torchvision.models.resnet18(num_classes=len(labels))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    key = primary_metric_key(schemas.default_primary_metric(task))
    best, epoch, total = None, 0, None
    while time.monotonic() - started < budget_s:
        epoch_started = time.monotonic()
        if not _train_epoch(task, model, optimizer, x_train, y_train, started + budget_s):
            break
        epoch += 1
        total = total or _fitted_epochs(started, epoch_started, budget_s)
        for group in optimizer.param_groups:
            group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * min(1.0, epoch / total)))
        probs = _predict(task, model, x_valid)
        truth = y_valid.numpy()
        score = classification_metrics(task, truth, probs)[key]
        best = score if best is None else max(best, score)
    return best


def _names(label) -> list[str]:
    return [label] if isinstance(label, str) else list(label)


def _native_side(records: list[dict]) -> int:
    """The plain loop's image side: the median shorter side, rounded to 16, 32 to 64."""
    return max(32, min(64, 16 * round(median_side(records) / 16)))


def _tensors(task: str, records: list[dict], labels: list[str], side: int):
    import numpy as np
    import torch
    from PIL import Image

    from automl.engine.tasks.classification import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    images = []
    for record in records:
        with Image.open(record["image_url"]) as image:
            pixels = np.asarray(image.convert("RGB").resize((side, side)), dtype=np.float32)
        images.append((torch.from_numpy(pixels).permute(2, 0, 1) / 255.0 - mean) / std)
    index = {name: i for i, name in enumerate(labels)}
    if task == "image_classification_multilabel":
        targets = torch.zeros(len(records), len(labels))
        for row, record in enumerate(records):
            for name in record["label"]:
                targets[row, index[name]] = 1.0
    else:
        targets = torch.tensor([index[r["label"]] for r in records])
    return torch.stack(images), targets


def _train_epoch(task, model, optimizer, x, y, deadline: float) -> bool:
    """One epoch in batches of 64 with random flips; False when the deadline came first."""
    import torch

    model.train()
    order = torch.randperm(len(x))
    for start in range(0, len(x), 64):
        if time.monotonic() > deadline:
            return False
        batch = order[start : start + 64]
        if len(batch) < 2:
            continue
        images = x[batch]
        flip = torch.rand(len(batch)) < 0.5
        images[flip] = images[flip].flip(-1)
        logits = model(images)
        if task == "image_classification_multilabel":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[batch])
        else:
            loss = torch.nn.functional.cross_entropy(logits, y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return True


def _fitted_epochs(started: float, epoch_started: float, budget_s: float) -> int:
    """The epochs that fit the budget, judged by the first epoch (and its evaluation)."""
    epoch_s = max(1e-3, (time.monotonic() - epoch_started) * 1.15)
    return max(1, int((budget_s - (epoch_started - started)) / epoch_s))


def _predict(task, model, x):
    import torch

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)])
    if task == "image_classification_multilabel":
        return torch.sigmoid(logits).numpy()
    return torch.softmax(logits, dim=1).numpy()


def plain_detection_loop(train_path: Path, valid_path: Path, budget_s: float) -> float | None:
    """torchvision's Faster R-CNN (MobileNetV3 320 FPN) from scratch, flip only, SGD 0.02
    with a cosine fitted to the budget, batch 4; the best mAP@0.5 (our evaluator)."""
    import torch
    import torchvision

    from automl.engine.data.datasets import DetectionDataset
    from automl.engine.metrics.detection import DetectionEvaluator

    started = time.monotonic()
    torch.manual_seed(0)
    train, valid = read_jsonl(train_path), read_jsonl(valid_path)
    labels = sorted({box["label"] for r in train + valid for box in r["label"]})
    train_set, valid_set = DetectionDataset(train, labels), DetectionDataset(valid, labels)
    train_items = [train_set[i] for i in range(len(train_set))]
    valid_items = [valid_set[i] for i in range(len(valid_set))]
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=len(labels) + 1
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
    best, epoch, total = None, 0, None
    while time.monotonic() - started < budget_s:
        epoch_started = time.monotonic()
        if not _detection_epoch(model, optimizer, train_items, started + budget_s):
            break
        epoch += 1
        total = total or _fitted_epochs(started, epoch_started, budget_s)
        for group in optimizer.param_groups:
            group["lr"] = 0.02 * 0.5 * (1 + math.cos(math.pi * min(1.0, epoch / total)))
        evaluator = DetectionEvaluator(labels)
        model.eval()
        with torch.no_grad():
            for image, target in valid_items:
                evaluator.add(model([image])[0], target)
        score = evaluator.compute().values["mean_average_precision"]
        best = score if best is None else max(best, score)
    return best


def _detection_epoch(model, optimizer, items: list, deadline: float) -> bool:
    """One epoch in batches of 4 with random flips; False when the deadline came first."""
    import torch

    from automl.engine.tasks.detection import horizontal_flip

    model.train()
    order = torch.randperm(len(items)).tolist()
    for start in range(0, len(order), 4):
        if time.monotonic() > deadline:
            return False
        batch = [items[i] for i in order[start : start + 4]]
        batch = [horizontal_flip(*item) if torch.rand(1) < 0.5 else item for item in batch]
        losses = model([image for image, _ in batch], [target for _, target in batch])
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return True


# ---------------------------------------------------------------- (d): Ultralytics

ULTRALYTICS = """
import sys
from ultralytics import YOLO
model, data, imgsz, hours, project = sys.argv[1:6]
YOLO(model).train(data=data, epochs=1000, time=float(hours), imgsz=int(imgsz), device="cpu",
                  workers=0, project=project, name="train", exist_ok=True, plots=False,
                  amp=False, pretrained=False, verbose=False)
"""


def run_ultralytics(task: str, run_dir: Path, workdir: Path, budget_s: float):
    """Ultralytics' trainer on the same checked data; (best score, wall seconds)."""
    train, valid = manifests(run_dir)
    side = 32 * max(1, round(median_side(read_jsonl(train)) / 32))
    if task == "image_object_detection":
        model, data, column = "yolo11n.yaml", _yolo_detection_data(train, valid), "mAP50(B)"
    else:
        model, data, column = "yolo11n-cls.yaml", _folder_layout(train, valid, workdir), "top1"
    project = workdir / f"ultralytics-{run_dir.name}"
    env_hours = str(budget_s / 3600)
    command = [sys.executable, "-c", ULTRALYTICS, model, str(data), str(side), env_hours]
    command.append(str(project))
    wall = run_for(command, budget_s + STOP_GRACE_S, project.with_suffix(".log"))
    return _results_best(project / "train" / "results.csv", column), wall


def median_side(records: list[dict]) -> int:
    """The median shorter side of the images (the checked manifests know every size)."""
    sides = sorted(min(r["image_details"]["width"], r["image_details"]["height"]) for r in records)
    return sides[len(sides) // 2]


def _folder_layout(train: Path, valid: Path, workdir: Path) -> Path:
    """Ultralytics' classification layout (split/class/image) as symbolic links."""
    root = workdir / f"cls-{train.parent.parent.name}"
    for split, manifest in (("train", train), ("val", valid)):
        for index, record in enumerate(read_jsonl(manifest)):
            folder = root / split / record["label"]
            folder.mkdir(parents=True, exist_ok=True)
            source = Path(record["image_url"])
            link = folder / f"{index:05d}{source.suffix}"
            if not link.exists():
                link.symlink_to(source)
    return root


def _yolo_detection_data(train: Path, valid: Path) -> Path:
    from automl.engine.data.converters._yolo_export import YoloExport, export_yolo_dataset

    records = read_jsonl(train) + read_jsonl(valid)
    labels = sorted({box["label"] for r in records for box in r["label"]})
    export = YoloExport(
        train_manifest=train,
        valid_manifest=valid,
        labels=labels,
        task="image_object_detection",
        segmentation=False,
        tiling=None,
    )
    return export_yolo_dataset(export)


def _results_best(path: Path, column: str) -> float | None:
    """The best value of the results.csv column whose name ends with `column`."""
    import csv

    if not path.is_file():
        return None
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    values = [
        float(value)
        for row in rows
        for key, value in row.items()
        if key and key.strip().endswith(column) and value.strip()
    ]
    return max(values) if values else None


# ---------------------------------------------------------------- the table


def bench_set(name: str, args: argparse.Namespace, workdir: Path) -> list[Row]:
    task, bundled = SETS[name]
    data = BUNDLED / bundled if bundled else _synthetic(args, workdir)
    budget = budget_for(args, name)
    rows, checked = [], None  # checked: a run whose data/ has the checked manifests
    if "a" in args.arms:
        score, wall, checked = run_automl(name, task, data, workdir, budget, 1)
        rows.append(Row(name, "(a) Azure defaults, 1 trial", score, wall))
    if "b" in args.arms:
        score, wall, automode_run = run_automl(name, task, data, workdir, budget, args.max_trials)
        rows.append(Row(name, f"(b) AutoMode, max_trials {args.max_trials}", score, wall))
        checked = checked or automode_run
    if checked is None:
        raise SystemExit("--arms needs a or b: (c) and (d) read the manifests of an automl run")
    if "c" in args.arms:
        started = time.monotonic()
        if task == "image_object_detection":
            score = plain_detection_loop(*manifests(checked), budget)
        else:
            score = plain_loop(task, *manifests(checked), budget)
        rows.append(Row(name, "(c) plain torch loop", score, time.monotonic() - started))
    if "d" in args.arms and task == "image_classification_multilabel":
        rows.append(Row(name, "(d) Ultralytics", None, 0.0, "n/a: no multi-label task"))
    elif "d" in args.arms:
        score, wall = run_ultralytics(task, checked, workdir, budget)
        rows.append(Row(name, "(d) Ultralytics", score, wall, "its own validator"))
    return rows


def _synthetic(args: argparse.Namespace, workdir: Path) -> Path:
    n_train, n_valid = (300, 100) if args.quick else (1400, 400)
    return draw_shapes(workdir / "synthetic", n_train, n_valid)


def automode_ratio(rows: list[Row]) -> float | None:
    """AutoMode's score over the best other row's (None when either is missing)."""
    ours = [r.score for r in rows if r.arm.startswith("(b)") and r.score is not None]
    others = [r.score for r in rows if not r.arm.startswith("(b)") and r.score is not None]
    if not ours or not others or max(others) <= 0:
        return None
    return ours[0] / max(others)


def table(rows: list[Row]) -> str:
    lines = ["| data | row | score | wall s | note |", "|---|---|---|---|---|"]
    for row in rows:
        score = "-" if row.score is None else f"{row.score:.3f}"
        lines.append(f"| {row.data} | {row.arm} | {score} | {row.wall_s:.0f} | {row.note} |")
    for name in dict.fromkeys(r.data for r in rows):
        ratio = automode_ratio([r for r in rows if r.data == name])
        shown = "-" if ratio is None else f"{ratio:.2f}"
        lines.append(f"| {name} | AutoMode / best other | {shown} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU budget
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="quality_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(workdir / "ultralytics_config"))
    os.environ.setdefault("AUTOML_HOME", str(workdir / "automl_home"))
    rows: list[Row] = []
    for name in args.sets:
        rows += bench_set(name, args, workdir)
        print(table([r for r in rows if r.data == name]), flush=True)
    text = f"{os.cpu_count()} CPUs, no GPU (CUDA hidden); workdir {workdir}\n\n{table(rows)}"
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write("\n## bench/quality.py\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
