"""Wall time of one trial through `automl job create` vs the same training in a plain loop.

Same model (resnet18 from scratch), data (bundled flowers5), epochs, batch size, threads
and data workers; both evaluate every epoch. Ours includes everything a user waits for:
job validation, the data doctor and split, the run directory, the trial process, plots and
the model package. Goal: ratio <= 1.10.

Each side runs --repeat times, interleaved (ours, plain, ours, plain, ...), and the ratio is
of the medians: single runs of a few seconds vary by +-1 s on a shared 2-core machine.
Usage: python bench/trial_overhead.py [--epochs 2] [--model resnet18] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOWER_ROOTS = (REPO / "examples" / "data" / "flowers5", Path("/work/shared/datasets/flowers5"))


def find_images(split: str) -> list[tuple[Path, str]]:
    """(image, class) pairs: the bundled dataset's JSONL, else a class-per-folder copy."""
    bundled = FLOWER_ROOTS[0] / split / "annotations.jsonl"
    if bundled.is_file():
        rows = [json.loads(line) for line in bundled.read_text().splitlines() if line]
        return sorted((bundled.parent / r["image_url"], r["label"]) for r in rows)
    folder = FLOWER_ROOTS[1] / ("val" if split == "valid" else split)
    found = sorted((p, p.parent.name) for p in folder.glob("*/*.jpg"))
    if not found:
        sys.exit("flowers5 images not found")
    return found


def write_manifests(work: Path) -> tuple[dict, list[str]]:
    paths, labels = {}, set()
    for split in ("train", "valid"):
        records = [{"image_url": str(p), "label": name} for p, name in find_images(split)]
        labels |= {r["label"] for r in records}
        paths[split] = work / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps(r) + "\n" for r in records))
    return paths, sorted(labels)


def parameters(args) -> dict:
    """What the job sets; every other key keeps Azure's default (sgd, nesterov, momentum 0.9,
    weight decay 1e-4, warmup_cosine with 0.45 cycles), which the plain loop copies."""
    return {
        "model_name": args.model,
        "pretrained": False,
        "number_of_epochs": args.epochs,
        "training_batch_size": 32,
        "validation_batch_size": 32,
        "learning_rate": 0.01,
        "warmup_cosine_lr_warmup_epochs": 1,
        "early_stopping": False,
        "number_of_workers": args.workers,
        "random_seed": 0,
        "training_crop_size": args.crop,
        "validation_crop_size": args.crop,
        "validation_resize_size": int(args.crop * 256 / 224),
    }


def time_job_create(args) -> tuple[float, int]:
    """`automl job create` on the bundled flowers5 MLTables; returns (seconds, trial threads)."""
    bundled = FLOWER_ROOTS[0]
    if not (bundled / "train" / "MLTable").is_file():
        sys.exit(f"bundled data missing: {bundled}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        job = {
            "type": "automl",
            "task": "image_classification",
            "target_column_name": "label",
            "training_data": {"path": str(bundled / "train")},
            "validation_data": {"path": str(bundled / "valid")},
            "training_parameters": parameters(args),
        }
        job_path = work / "job.yml"
        job_path.write_text(json.dumps(job))  # JSON is YAML
        command = [
            sys.executable,
            "-m",
            "automl.cli.main",
            "job",
            "create",
            "--file",
            str(job_path),
            "--run-dir",
            str(work / "run"),
        ]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"automl job create failed:\n{result.stderr[-3000:]}")
        spec = json.loads((work / "run" / "trials" / "0" / "spec.json").read_text())
        return elapsed, spec["n_threads"]


PLAIN_LOOP = r"""
import json, math, sys, time
import torch, torchvision
from torch.utils.data import DataLoader, Dataset
from PIL import Image
from torchvision import transforms as T
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"]); torch.manual_seed(0)
mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
class Images(Dataset):
    def __init__(self, path, tf):
        self.rows = [json.loads(l) for l in open(path)]; self.tf = tf
    def __len__(self): return len(self.rows)
    def __getitem__(self, i):
        r = self.rows[i]
        return self.tf(Image.open(r["image_url"]).convert("RGB")), cfg["labels"].index(r["label"])
crop = cfg["crop"]
jitter = T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.4)], p=0.5)
train_tf = T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), jitter,
    T.ToTensor(), T.Normalize(mean, std)])
valid_tf = T.Compose([T.Resize(int(crop * 256 / 224)), T.CenterCrop(crop),
    T.ToTensor(), T.Normalize(mean, std)])
kw = dict(num_workers=cfg["workers"], persistent_workers=cfg["workers"] > 0)
train = DataLoader(Images(cfg["train"], train_tf), batch_size=32, shuffle=True, **kw)
valid = DataLoader(Images(cfg["valid"], valid_tf), batch_size=32, **kw)
model = getattr(torchvision.models, cfg["model"])(num_classes=len(cfg["labels"]))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
warm, total = len(train), len(train) * cfg["epochs"]
def f(s):
    if s < warm:
        return s / warm
    return max(0.0, 0.5 * (1 + math.cos(math.pi * 0.9 * (s - warm) / max(1, total - warm))))
sched = torch.optim.lr_scheduler.LambdaLR(opt, f)
loss_fn = torch.nn.CrossEntropyLoss()
for epoch in range(cfg["epochs"]):
    model.train()
    for x, y in train:
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 5.0); opt.step(); sched.step()
    model.eval(); correct = 0
    with torch.inference_mode():
        for x, y in valid:
            correct += (model(x).argmax(1) == y).sum().item()
    print("epoch", epoch + 1, "accuracy", correct / len(valid.dataset), flush=True)
torch.save(model.state_dict(), cfg["out"])
"""


def time_plain_loop(args, work: Path, manifests: dict, labels: list[str]) -> float:
    cfg = {
        "threads": args.threads,
        "workers": args.workers,
        "crop": args.crop,
        "epochs": args.epochs,
        "model": args.model,
        "labels": labels,
        "train": str(manifests["train"]),
        "valid": str(manifests["valid"]),
        "out": str(work / "plain.pt"),
    }
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PLAIN_LOOP, json.dumps(cfg)], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--model", default="resnet18", help="a torchvision model name")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (median)")
    args = parser.parse_args()
    ours_runs, plain_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifests, labels = write_manifests(work)
        for _ in range(max(1, args.repeat)):
            seconds, threads = time_job_create(args)
            ours_runs.append(seconds)
            # The controller gives a lone trial every core; the plain loop gets the same.
            args.threads = threads
            plain_runs.append(time_plain_loop(args, work, manifests, labels))
    ours, plain = statistics.median(ours_runs), statistics.median(plain_runs)
    print(
        f"model {args.model}, {args.epochs} epochs, crop {args.crop}, threads {threads}, "
        f"workers {args.workers}, {len(ours_runs)} runs each"
    )
    print(f"plain torch loop:   {plain:.1f} s median ({_runs(plain_runs)})")
    print(f"automl job create:  {ours:.1f} s median ({_runs(ours_runs)})")
    print(f"ratio:              {ours / plain:.3f}x (goal <= 1.10x)")


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{s:.1f}" for s in seconds)


if __name__ == "__main__":
    main()
