"""Classification training speed: our trial (`automl job create`) vs a plain torch loop,
with GPU utilisation, MFU and where the data loader is the bottleneck (issue 18).

    python bench/gpu_train.py [--quick] [--models resnet50,vits16r224:ours+plain]
        [--images 3072] [--short-side 375] [--batch 128] [--workers 8] [--epochs 3]
        [--variants ours,plain,...] [--compile MODELS] [--json F] [--markdown F] [--device auto]

Data: the bundled flowers5 photos re-encoded (JPEG q90) with the shorter side at
--short-side px (375: about an ImageNet photo) and copied to --images files on disk in a
temporary folder, so every epoch decodes real JPEGs, as users' data is. 224 px crops.

Both sides train the same architecture from scratch with the same batch size, workers,
epochs, augmentation (random resized crop, flip, colour jitter p=0.5), SGD, bf16 autocast
and channels_last on CUDA, cudnn.benchmark on (the trial sets no random_seed), and validate
every epoch. Runs are interleaved (ours, plain, ... for --repeat rounds). A run's speed is
the median of its training epochs after the first (the first pays for worker start-up and
cudnn's kernel search): ours from the trial's own metrics.jsonl (train.images_per_s), the
plain loop's measured the same way in its own process.

Also printed, per model:
- model FLOPs per image (one forward + backward counted by torch's FlopCounterMode) and MFU
  = FLOPs/image x images/s / the device's dense bf16 peak (data-sheet table in
  gpu_common.py; the measured bf16 matmul rate of this GPU beside it);
- GPU utilisation (NVML or nvidia-smi, sampled every 0.2 s) over the epochs after the first;
- the GPU alone: images/s on synthetic batches already on the device (eager, and compiled
  for the models named by --compile), against the CPU's decode + augment images/s per
  data worker (ours and the plain transform, measured in one process): when workers x
  per-worker rate is below the GPU's rate, the data loader is the bottleneck, and the
  report says so.

Variants (the fixes the issue lists; `ours_*` only where the engine has the option):
ours, ours_more_workers, plain, plain_more_workers, plain_no_pin, plain_reduced_decode
(JPEG draft decode, as our pipeline does), plain_gpu_decode (torchvision.io.decode_jpeg on
the device, crop/flip/jitter there), plain_compile (torch.compile). `--models M:v1+v2`
runs only those variants for M. Without CUDA (or with --quick) tiny sizes run on the CPU.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # gpu_common
from gpu_common import (  # noqa: E402
    UtilSampler,
    append_markdown,
    device_info,
    fmt,
    job_create,
    markdown_table,
    measured_matmul_flops,
    pick_device,
    write_json,
)

REPO = Path(__file__).resolve().parents[1]
FLOWERS = REPO / "examples" / "data" / "flowers5"
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
VIT_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
ALL_VARIANTS = (
    "ours",
    "plain",
    "ours_more_workers",
    "plain_more_workers",
    "plain_no_pin",
    "plain_reduced_decode",
    "plain_gpu_decode",
    "plain_compile",
)
QUICK = {  # tiny sizes for a CPU: the same code paths in about a minute on 2 idle cores
    "models": "resnet18",
    "images": 64,
    "valid_images": 16,
    "short_side": 48,
    "crop": 32,
    "batch": 16,
    "workers": 1,
    "epochs": 2,
    "variants": "ours,plain,plain_gpu_decode",
}
FULL = {
    "models": "resnet50,vits16r224",
    "images": 3072,
    "valid_images": 256,
    "short_side": 375,
    "crop": 224,
    "batch": 128,
    "workers": 8,
    "epochs": 3,
    "variants": ",".join(v for v in ALL_VARIANTS if v != "plain_compile"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CPU, ~1 minute)")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--models", help="comma list; M:v1+v2 runs only those variants of M")
    parser.add_argument("--variants", help=f"comma list of {', '.join(ALL_VARIANTS)}")
    parser.add_argument("--images", type=int, help="training images (files on disk)")
    parser.add_argument("--valid-images", type=int)
    parser.add_argument("--short-side", type=int, help="shorter side of the JPEGs, px")
    parser.add_argument("--crop", type=int, help="training crop, px")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--workers", type=int, help="data-loader workers of both sides")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds")
    parser.add_argument(
        "--compile",
        default="",
        metavar="MODELS",
        help="comma list: also time these models compiled (torch.compile) on "
        "synthetic batches, after their runs (compiling takes about a minute)",
    )
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="append a markdown section here")
    parser.add_argument("--workdir", help="keep the images and runs here (default: temporary)")
    parser.add_argument("--plain-worker", help=argparse.SUPPRESS)  # the plain loop's process
    args = parser.parse_args(argv)
    args.device = pick_device(args.device)
    if args.plain_worker:
        return args
    if args.device == "cpu" and not args.quick:
        print("no CUDA device: running the --quick sizes on the CPU", flush=True)
        args.quick = True
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.compile = [m for m in args.compile.split(",") if m]
    return args


@dataclass
class Variant:
    name: str
    side: str  # "ours" or "plain"
    workers: int
    pin_memory: bool = True
    decode: str = "cpu"  # cpu | reduced | gpu
    compile: bool = False


def make_variant(name: str, args: argparse.Namespace) -> Variant:
    more = min(2 * args.workers, max(1, (os.cpu_count() or 2) - 1))
    pin = args.device.startswith("cuda")
    table = {
        "ours": Variant("ours", "ours", args.workers, pin),
        "ours_more_workers": Variant(name, "ours", more, pin),
        "plain": Variant("plain", "plain", args.workers, pin),
        "plain_more_workers": Variant(name, "plain", more, pin),
        "plain_no_pin": Variant(name, "plain", args.workers, False),
        "plain_reduced_decode": Variant(name, "plain", args.workers, pin, decode="reduced"),
        "plain_gpu_decode": Variant(name, "plain", args.workers, pin, decode="gpu"),
        "plain_compile": Variant(name, "plain", args.workers, pin, compile=True),
    }
    if name not in table:
        raise SystemExit(f"unknown variant {name!r}; known: {', '.join(ALL_VARIANTS)}")
    return table[name]


def model_plan(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """[(model, [variant, ...])] from --models and --variants."""
    plan = []
    for item in args.models.split(","):
        model, _, only = item.partition(":")
        names = only.split("+") if only else args.variants.split(",")
        plan.append((model.strip(), [n.strip() for n in names if n.strip()]))
    return plan


# ----------------------------------------------------------------------------- the data


def write_dataset(work: Path, args: argparse.Namespace) -> dict:
    """The photos as MLTable folders train/ and valid/ of JPEG copies; returns the paths."""
    labels = set()
    for split, count in (("train", args.images), ("valid", args.valid_images)):
        sources = read_sources(split, args.short_side)
        folder = work / split
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(count):
            data, label = sources[i % len(sources)]
            name = f"images/{i:06d}_{label}.jpg"
            (folder / name).write_bytes(data)
            rows.append({"image_url": name, "label": label})
            labels.add(label)
        (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "MLTable").write_text((FLOWERS / split / "MLTable").read_text())
    return {"train": work / "train", "valid": work / "valid", "labels": sorted(labels)}


def read_sources(split: str, short_side: int) -> list[tuple[bytes, str]]:
    """Each bundled photo of `split` resized to `short_side` and encoded once (JPEG q90)."""
    from PIL import Image

    rows = [json.loads(line) for line in (FLOWERS / split / "annotations.jsonl").open()]
    encoded = []
    for row in rows:
        with Image.open(FLOWERS / split / row["image_url"]) as image:
            image = image.convert("RGB")
            scale = short_side / min(image.size)
            size = (round(image.width * scale), round(image.height * scale))
            buffer = io.BytesIO()
            image.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        encoded.append((buffer.getvalue(), row["label"]))
    return encoded


def records(folder: Path) -> list[dict]:
    """Manifest rows with absolute image paths."""
    rows = [json.loads(line) for line in (folder / "annotations.jsonl").open()]
    return [{**r, "image_url": str(folder / r["image_url"])} for r in rows]


# ------------------------------------------------------------------------ model and FLOPs


def mean_std(model: str) -> tuple:
    return VIT_MEAN_STD if model.startswith("vit") else IMAGENET_MEAN_STD


def plain_model(name: str, n_classes: int, crop: int):
    """The architecture straight from torchvision / timm (the registry's for any other)."""
    import torchvision

    if name.startswith("resnet") or name == "mobilenetv2":
        arch = "mobilenet_v2" if name == "mobilenetv2" else name
        return getattr(torchvision.models, arch)(num_classes=n_classes)
    vits = {"vits16r224": "small", "vitb16r224": "base", "vitl16r224": "large"}
    if name in vits:
        import timm

        arch = f"vit_{vits[name]}_patch16_224"
        return timm.create_model(arch, pretrained=False, num_classes=n_classes, img_size=crop)
    from automl.engine.models import build_model

    return build_model(name, n_classes, pretrained=False, crop_size=crop)


def flops_per_image(model_name: str, n_classes: int, crop: int) -> float:
    """Model FLOPs of one training image: forward + backward, counted on the CPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = plain_model(model_name, n_classes, crop)
    images = torch.randn(2, 3, crop, crop)
    counter = FlopCounterMode(display=False)
    with counter:
        loss = torch.nn.functional.cross_entropy(model(images), torch.tensor([0, 1]))
        loss.backward()
    return counter.get_total_flops() / 2


def gpu_synthetic_rate(model_name: str, args, n_classes: int, compiled: bool) -> dict:
    """Images/s of training steps on random batches already on the device: the rate the
    model runs at when the data costs nothing."""
    import torch

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model = plain_model(model_name, n_classes, args.crop).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    started = time.perf_counter()
    step_model = torch.compile(model) if compiled else model
    images = torch.randn(args.batch, 3, args.crop, args.crop, device=device)
    if cuda:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, n_classes, (args.batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(step_model(images), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    warmup, steps = (2, 3) if args.quick else (8, 30)
    for _ in range(warmup):
        step()
    sync(device)
    warm_s = time.perf_counter() - started
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    rate = steps * args.batch / (time.perf_counter() - start)
    return {"images_per_s": round(rate, 1), "warmup_s": round(warm_s, 1), "compiled": compiled}


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


# -------------------------------------------------------------- the CPU side: per worker


def loader_rates(data: dict, args: argparse.Namespace, model_name: str) -> dict:
    """Decode + augment images/s of ONE worker (this process, one thread): our dataset and
    training transform, the plain loop's torchvision transform, and that with draft decode."""
    import torch

    from automl.engine.data.datasets import ClassificationDataset
    from automl.engine.tasks.classification import build_train_transform

    torch.set_num_threads(1)
    rows = records(data["train"])[: 32 if args.quick else 256]
    mean, std = mean_std(model_name)
    ours = ClassificationDataset(rows, data["labels"], build_train_transform(args.crop, mean, std))
    plain = PlainDataset(rows, data["labels"], plain_transform(args.crop, mean, std))
    reduced = PlainDataset(rows, data["labels"], plain_transform(args.crop, mean, std), args.crop)
    return {
        name: items_per_second(dataset)
        for name, dataset in (("ours", ours), ("plain", plain), ("plain_reduced_decode", reduced))
    }


def items_per_second(dataset) -> float:
    dataset[0]  # imports and first-call costs out of the timing
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return round(len(dataset) / (time.perf_counter() - start), 1)


# ------------------------------------------------------------------------ the plain loop


def plain_transform(crop: int, mean, std):
    from torchvision import transforms as T

    jitter = T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.4)], p=0.5)
    return T.Compose(
        [
            T.RandomResizedCrop(crop),
            T.RandomHorizontalFlip(),
            jitter,
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def valid_transform(crop: int, mean, std):
    from torchvision import transforms as T

    return T.Compose(
        [T.Resize(int(crop * 256 / 224)), T.CenterCrop(crop), T.ToTensor(), T.Normalize(mean, std)]
    )


class PlainDataset:
    """What a user writes: PIL open + convert + torchvision transforms. `draft`: let
    libjpeg decode at 1/2-1/8 scale while both sides stay >= draft px (a reduced decode)."""

    def __init__(self, rows: list[dict], labels: list[str], transform, draft: int | None = None):
        self.rows, self.transform, self.draft = rows, transform, draft
        self.index = {name: i for i, name in enumerate(labels)}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        from PIL import Image

        row = self.rows[i]
        with Image.open(row["image_url"]) as image:
            if self.draft:
                image.draft("RGB", (self.draft, self.draft))
            return self.transform(image.convert("RGB")), self.index[row["label"]]


class JpegBytesDataset(PlainDataset):
    """For decoding on the device: the workers only read the files."""

    def __getitem__(self, i: int):
        import torch

        row = self.rows[i]
        data = torch.frombuffer(bytearray(Path(row["image_url"]).read_bytes()), dtype=torch.uint8)
        return data, self.index[row["label"]]


def collate_bytes(batch):
    import torch

    return [item[0] for item in batch], torch.tensor([item[1] for item in batch])


class DeviceAugment:
    """decode_jpeg on the device, then random resized crop + flip per image and colour
    jitter (p=0.5, one draw per batch: per image it would cost a pass each) there."""

    def __init__(self, crop: int, mean, std, device) -> None:
        import torch
        from torchvision.transforms import v2

        self.crop, self.device = crop, device
        self.resized_crop = v2.RandomResizedCrop(crop, antialias=True)
        self.jitter = v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.4)], p=0.5)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)

    def __call__(self, encoded: list) -> object:
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        images = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=self.device)
        crops = []
        for image in images:
            image = self.resized_crop(image)
            crops.append(image.flip(-1) if torch.rand(()) < 0.5 else image)
        batch = self.jitter(torch.stack(crops)).float().div_(255)
        return (batch - self.mean) / self.std


def plain_worker(cfg: dict) -> None:
    """The plain loop, in its own process: one JSON line per epoch on stdout."""
    import torch
    from torch.utils.data import DataLoader

    torch.backends.cudnn.benchmark = True
    device = torch.device(cfg["device"])
    cuda = device.type == "cuda"
    mean, std = mean_std(cfg["model"])
    labels, crop, batch = cfg["labels"], cfg["crop"], cfg["batch"]
    train_rows = records(Path(cfg["train"]))
    if cfg["decode"] == "gpu":
        train_set = JpegBytesDataset(train_rows, labels, None)
        augment = DeviceAugment(crop, mean, std, device)
    else:
        draft = crop if cfg["decode"] == "reduced" else None
        train_set = PlainDataset(train_rows, labels, plain_transform(crop, mean, std), draft)
        augment = None
    valid_set = PlainDataset(records(Path(cfg["valid"])), labels, valid_transform(crop, mean, std))
    workers = cfg["workers"]
    common = {
        "num_workers": workers,
        "pin_memory": cfg["pin_memory"] and cuda,
        "persistent_workers": workers > 0,
    }
    train = DataLoader(
        train_set,
        batch_size=batch,
        shuffle=True,
        collate_fn=collate_bytes if augment else None,
        drop_last=len(train_set) % batch == 1,
        **common,
    )
    valid = DataLoader(valid_set, batch_size=batch, **common)
    model = plain_model(cfg["model"], len(labels), crop).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if cfg["compile"] else model
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(len(train), cfg["epochs"])
    )
    vit = cfg["model"].startswith("vit")

    def to_device(images):
        if augment is not None:
            return augment(images).contiguous(memory_format=torch.channels_last)
        images = images.to(device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if cuda else images

    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        started, n_images = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=device)
        for images, targets in train:
            images, targets = to_device(images), targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = torch.nn.functional.cross_entropy(step_model(images), targets)
            loss.backward()
            if vit:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            else:
                torch.nn.utils.clip_grad_value_(model.parameters(), 5.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            loss_sum += loss.detach() * len(targets)
            n_images += len(targets)
        train_loss = (loss_sum / n_images).item()  # synchronises
        seconds = time.perf_counter() - started
        accuracy = plain_evaluate(step_model, valid, device, cuda)
        print(
            json.dumps(
                {
                    "epoch": epoch,
                    "seconds": round(seconds, 3),
                    "images_per_s": round(n_images / seconds, 1),
                    "loss": train_loss,
                    "accuracy": accuracy,
                    "end_wall": time.time(),
                }
            ),
            flush=True,
        )


def warmup_cosine(steps_per_epoch: int, epochs: int):
    """One epoch of linear warm-up, then a cosine decay (the trial's default schedule)."""
    total = steps_per_epoch * epochs

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / steps_per_epoch)
        return warm * 0.5 * (1 + math.cos(math.pi * step / total))

    return factor


def plain_evaluate(model, loader, device, cuda: bool) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            if cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            correct += (model(images).argmax(1).cpu() == targets).sum().item()
    return correct / len(loader.dataset)


# ------------------------------------------------------------------------------- the runs


@dataclass
class RunResult:
    model: str
    variant: str
    side: str
    workers: int
    pin_memory: bool
    decode: str
    compile: bool
    round: int
    epochs: list = field(default_factory=list)  # [{"epoch", "images_per_s", "end_wall"}]
    wall_s: float = 0.0
    error: str | None = None
    images_per_s: float | None = None  # median of the epochs after the first
    gpu_util: float | None = None
    mfu: float | None = None


def steady(result: RunResult, sampler: UtilSampler) -> None:
    """Speed and utilisation over the epochs after the first (all when there is one)."""
    epochs = result.epochs[1:] or result.epochs
    if not epochs:
        return
    result.images_per_s = round(statistics.median(e["images_per_s"] for e in epochs), 1)
    if len(result.epochs) > 1:
        result.gpu_util = sampler.mean(result.epochs[0]["end_wall"], result.epochs[-1]["end_wall"])


def run_ours(model: str, variant: Variant, data: dict, args, work: Path) -> RunResult:
    """One trial through `automl job create`; epochs from its metrics.jsonl and log."""
    result = RunResult(model, **run_fields(variant))
    run_dir = work / f"run-{model}-{variant.name}-{time.monotonic_ns()}"
    mean_crop = {
        "training_crop_size": args.crop,
        "validation_crop_size": args.crop,
        "validation_resize_size": int(args.crop * 256 / 224),
    }
    job = {
        "type": "automl",
        "task": "image_classification",
        "target_column_name": "label",
        "training_data": {"type": "mltable", "path": str(data["train"])},
        "validation_data": {"type": "mltable", "path": str(data["valid"])},
        "training_parameters": {
            "model_name": model,
            "pretrained": False,
            "number_of_epochs": args.epochs,
            "training_batch_size": args.batch,
            "validation_batch_size": args.batch,
            "number_of_workers": variant.workers,
            "early_stopping": False,
            **mean_crop,
        },
    }
    job_path = work / f"job-{model}-{variant.name}.yml"
    job_path.write_text(json.dumps(job))  # JSON is YAML
    done, result.wall_s = job_create(job_path, run_dir, work / "home", args.device)
    trial = run_dir / "trials" / "0"
    if done.returncode != 0:
        result.error = (done.stderr or done.stdout)[-2000:]
        return result
    result.epochs = trial_epochs(trial)
    return result


def run_fields(variant: Variant) -> dict:
    fields = asdict(variant)
    return {"variant": fields.pop("name"), **fields, "round": 0}


LOG_EPOCH = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: epoch (\d+)/\d+: .*?([0-9.]+) images/s$",
    re.MULTILINE,
)


def trial_epochs(trial: Path) -> list[dict]:
    """Per epoch: images/s from metrics.jsonl (the log's when an epoch was not evaluated)
    and the wall time its log line was written."""
    logged = {
        int(epoch): (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), float(rate))
        for stamp, epoch, rate in LOG_EPOCH.findall((trial / "trial.log").read_text())
    }
    measured = {}
    metrics = trial / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.is_file() else []:
        record = json.loads(line)
        measured[record["epoch"]] = record["train"].get("images_per_s")
    return [
        {"epoch": e, "images_per_s": measured.get(e) or rate, "end_wall": wall}
        for e, (wall, rate) in sorted(logged.items())
    ]


def run_plain(model: str, variant: Variant, data: dict, args, work: Path) -> RunResult:
    result = RunResult(model, **run_fields(variant))
    cfg = {
        "model": model,
        "device": args.device,
        "labels": data["labels"],
        "crop": args.crop,
        "batch": args.batch,
        "epochs": args.epochs,
        "train": str(data["train"]),
        "valid": str(data["valid"]),
        "workers": variant.workers,
        "pin_memory": variant.pin_memory,
        "decode": variant.decode,
        "compile": variant.compile,
    }
    cfg_path = work / f"plain-{model}-{variant.name}.json"
    cfg_path.write_text(json.dumps(cfg))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--plain-worker",
        str(cfg_path),
        "--device",
        args.device,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    result.wall_s = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        result.error = done.stderr[-2000:]
        return result
    result.epochs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return result


# ----------------------------------------------------------------------------- reporting


@dataclass
class ModelReport:
    model: str
    flops_per_image: float
    loader_per_worker: dict
    gpu_alone: dict
    runs: list = field(default_factory=list)

    def best(self, variant: str) -> RunResult | None:
        """The variant's run of median speed over the rounds."""
        done = [r for r in self.runs if r.variant == variant and r.images_per_s]
        done.sort(key=lambda r: r.images_per_s)
        return done[len(done) // 2] if done else None


def bottleneck(report: ModelReport, workers: int) -> list[str]:
    """Where the time goes: the loader's ceiling (per-worker rate x workers) vs the GPU."""
    gpu = report.gpu_alone["eager"]["images_per_s"]
    lines = []
    for side in ("ours", "plain"):
        per_worker = report.loader_per_worker[side]
        ceiling = per_worker * max(workers, 1)
        if ceiling < gpu:
            needed = math.ceil(gpu / per_worker)
            lines.append(
                f"{side}: DATA-LOADER BOUND: {workers} workers decode+augment at most "
                f"{ceiling:.0f} images/s ({per_worker:.0f} per worker), the model alone runs "
                f"{gpu:.0f} images/s; {needed} workers would keep up "
                f"(this machine has {os.cpu_count()} CPUs)"
            )
        else:
            lines.append(
                f"{side}: model-bound: {workers} workers can feed {ceiling:.0f} images/s, "
                f"the model alone runs {gpu:.0f} images/s"
            )
    return lines


def finish_runs(report: ModelReport, info: dict) -> None:
    peak = info.get("peak_bf16_flops")
    for run in report.runs:
        if run.images_per_s and peak:
            run.mfu = round(report.flops_per_image * run.images_per_s / peak, 4)


def table_rows(report: ModelReport) -> list[list]:
    plain = report.best("plain")
    rows = []
    for name in dict.fromkeys(r.variant for r in report.runs):
        run = report.best(name) or next(r for r in report.runs if r.variant == name)
        ratio = None
        if run.images_per_s and plain and plain.images_per_s:
            ratio = round(run.images_per_s / plain.images_per_s, 3)
        rows.append(
            [
                report.model,
                name,
                run.workers,
                run.pin_memory,
                run.decode,
                run.compile,
                run.images_per_s,
                ratio,
                run.gpu_util,
                None if run.mfu is None else round(100 * run.mfu, 1),
                run.wall_s,
                "failed" if run.error else "ok",
            ]
        )
    return rows


HEADER = [
    "model",
    "variant",
    "workers",
    "pinned",
    "decode",
    "compile",
    "images/s",
    "vs plain",
    "GPU util %",
    "MFU %",
    "wall s",
    "state",
]


def print_report(reports: list[ModelReport], info: dict, args) -> list[str]:
    lines = [
        f"device: {info['name']} (peak bf16 {fmt(info.get('peak_bf16_flops'), '.3g')} "
        f"FLOP/s, measured bf16 matmul {fmt(info.get('matmul_flops'), '.3g')} FLOP/s), "
        f"torch {info['torch']}",
        f"data: {args.images} JPEGs at {args.short_side} px shorter side, crop {args.crop}, "
        f"batch {args.batch}, {args.epochs} epochs, {args.repeat} round(s)",
    ]
    for report in reports:
        gpu = report.gpu_alone
        lines += [
            "",
            f"{report.model}: {report.flops_per_image / 1e9:.2f} GFLOP per training image "
            f"(forward + backward)",
            f"  model alone (synthetic batches on the device): "
            f"{gpu['eager']['images_per_s']:.0f} images/s eager"
            + (
                f", {gpu['compiled']['images_per_s']:.0f} compiled (compile + warm-up "
                f"{gpu['compiled']['warmup_s']:.0f} s)"
                if gpu.get("compiled")
                else ""
            ),
            "  decode + augment per worker (one CPU): "
            + ", ".join(f"{k} {v:.0f}" for k, v in report.loader_per_worker.items())
            + " images/s",
            *("  " + line for line in bottleneck(report, args.workers)),
        ]
        lines.append(
            "  our trial has no option for GPU JPEG decode or torch.compile; it always"
            " pins memory on CUDA and decodes JPEGs at reduced size when a crop allows"
        )
        ours, plain = report.best("ours"), report.best("plain")
        if ours and plain:
            lines.append(
                f"  ours / plain: {ours.images_per_s / plain.images_per_s:.3f}x "
                "images/s (goal >= 0.95)"
            )
        for run in report.runs:
            if run.error:
                lines.append(f"  {run.variant} failed: {run.error.strip().splitlines()[-1]}")
    lines += ["", *markdown_table(HEADER, [row for r in reports for row in table_rows(r)])]
    print("\n".join(lines), flush=True)
    return lines


class Stopped(Exception):
    """SIGTERM (a time limit): report what was measured so far."""


def stop_on_sigterm() -> None:
    import signal

    def handler(signum, frame):
        raise Stopped

    signal.signal(signal.SIGTERM, handler)


def measure_model(
    report: ModelReport, variants: list[str], data: dict, args, work: Path, sampler, info: dict
) -> None:
    """The model's runs, interleaved over the rounds, then its compiled probe; the JSON is
    rewritten after each, so a run stopped by a time limit keeps what it measured."""
    for round_ in range(args.repeat):
        for name in variants:
            variant = make_variant(name, args)
            print(f"== {report.model}: {name} (round {round_ + 1})", flush=True)
            runner = run_ours if variant.side == "ours" else run_plain
            run = runner(report.model, variant, data, args, work)
            run.round = round_
            steady(run, sampler)
            report.runs.append(run)
            finish_runs(report, info)
            print(
                f"   {fmt(run.images_per_s)} images/s, wall {run.wall_s} s"
                + (" FAILED" if run.error else ""),
                flush=True,
            )
            save(args, info, partial=True)
    if report.model in args.compile:
        print(f"== {report.model}: compiled probe (torch.compile)", flush=True)
        n_classes = len(data["labels"])
        report.gpu_alone["compiled"] = gpu_synthetic_rate(report.model, args, n_classes, True)
        save(args, info, partial=True)


def probe_model(model: str, data: dict, args) -> ModelReport:
    """FLOPs per image, the model alone on synthetic batches, the loaders per worker."""
    n_classes = len(data["labels"])
    print(f"== {model}: probes", flush=True)
    return ModelReport(
        model,
        flops_per_image(model, n_classes, args.crop),
        loader_rates(data, args, model),
        {"eager": gpu_synthetic_rate(model, args, n_classes, compiled=False)},
    )


REPORTS: list[ModelReport] = []  # what `save` writes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plain_worker:
        plain_worker(json.loads(Path(args.plain_worker).read_text()))
        return 0
    stop_on_sigterm()
    info = device_info(args.device)
    info["matmul_flops"] = measured_matmul_flops(args.device)
    sampler = UtilSampler().start()
    stopped = False
    with tempfile.TemporaryDirectory(prefix="gpu_train_") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            started = time.perf_counter()
            data = write_dataset(work, args)
            print(
                f"dataset: {args.images} + {args.valid_images} JPEGs in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            for model, variants in model_plan(args):
                REPORTS.append(probe_model(model, data, args))
                measure_model(REPORTS[-1], variants, data, args, work, sampler, info)
        except Stopped:
            stopped = True
            print("stopped (SIGTERM): the report below has what was measured", flush=True)
        finally:
            sampler.stop()
    lines = print_report(REPORTS, info, args)
    save(args, info, partial=stopped)
    title = f"Classification training: ours vs plain loop ({info['name']})"
    append_markdown(
        args.markdown, title + (" (stopped early)" if stopped else ""), ["```", *lines, "```"]
    )
    failed = [r for rep in REPORTS for r in rep.runs if r.error]
    return 1 if failed or stopped else 0


def save(args, info: dict, partial: bool) -> None:
    """The JSON of everything measured so far."""
    settings = (
        "images",
        "valid_images",
        "short_side",
        "crop",
        "batch",
        "workers",
        "epochs",
        "repeat",
        "quick",
        "compile",
    )
    write_json(
        args.json,
        {
            "bench": "gpu_train",
            "partial": partial,
            "device": info,
            "settings": {k: getattr(args, k) for k in settings},
            "models": [{**asdict(r), "bottleneck": bottleneck(r, args.workers)} for r in REPORTS],
        },
    )


if __name__ == "__main__":
    sys.exit(main())
