"""The dataset doctor: every problem found before any training time is spent.

Per-line problems (malformed line, label shape, box, polygon, missing or corrupt image)
are found while reading (`engine.data.reader`); the rules here look at whole datasets:
too few images, validation labels never seen in training, train/validation leakage,
duplicate images, rare classes. Problems are errors; warnings never stop a run.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from automl.engine.data.images import oriented_size
from automl.engine.data.labels import label_names
from automl.engine.data.tasks import OBJECT_TASKS
from automl.engine.data.urls import read_bytes

MIN_TRAINING_IMAGES = 10  # Azure's documented minimum
RARE_CLASS_EXAMPLES = 5  # below this a class is flagged (Azure recommends 10-15 per label)
HASH_KEY = "_sha1"  # private record key: content hash, never written to manifests


@dataclass
class DataReport:
    """What the doctor found: `problems` (errors), `warnings`, and a `summary` dict."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "summary": self.summary,
        }


@dataclass
class ImageProbe:
    """An image's oriented size and content hash, or the reason it cannot be used."""

    width: int = 0
    height: int = 0
    sha1: str = ""
    problem: str | None = None


def probe_image(location: str) -> ImageProbe:
    """Read, hash and fully decode one image (JPEGs at reduced scale, which is fast)."""
    try:
        data = read_bytes(location)
    except FileNotFoundError:
        return ImageProbe(problem="not found")
    except OSError as exc:
        return ImageProbe(problem=f"cannot be read ({exc.strerror or exc})")
    digest = hashlib.sha1(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = oriented_size(image)
            # draft() lets libjpeg decode at 1/8 scale: the whole stream is still read, so
            # truncation and corruption are caught at a fraction of the cost.
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except UnidentifiedImageError:
        return ImageProbe(sha1=digest, problem="is not an image Pillow can read")
    except (OSError, ValueError, SyntaxError) as exc:
        return ImageProbe(sha1=digest, problem=f"is corrupt or truncated ({exc})")
    return ImageProbe(width=width, height=height, sha1=digest)


def probe_images(locations: Sequence[str], n_workers: int | None = None) -> list[ImageProbe]:
    """Probe many images with a thread pool (decoding releases the GIL)."""
    if not locations:
        return []
    n_workers = n_workers or min(8, (os.cpu_count() or 1) + 2)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        return list(pool.map(probe_image, locations))


def check_min_images(records: Sequence[dict], name: str) -> list[str]:
    """Azure needs at least 10 training images."""
    if len(records) >= MIN_TRAINING_IMAGES:
        return []
    return [
        f"{name}: {len(records)} usable images; AutoML needs at least {MIN_TRAINING_IMAGES} "
        "training images (add images or fix the problems above)"
    ]


def check_unseen_labels(task: str, train: Sequence[dict], valid: Sequence[dict]) -> list[str]:
    """Every validation class must appear in training, or the model can never predict it."""
    seen = {name for record in train for name in label_names(task, record["label"])}
    first: dict[str, str] = {}
    counts: Counter = Counter()
    for record in valid:
        for name in set(label_names(task, record["label"])) - seen:
            first.setdefault(name, record["source"])
            counts[name] += 1
    return [
        f"{first[name]}: label '{name}' ({counts[name]} validation images) never appears in "
        "the training data; add training examples or remove it from validation"
        for name in sorted(first)
    ]


def check_leakage(train: Sequence[dict], valid: Sequence[dict]) -> list[str]:
    """The same image (by content hash) in training and validation inflates every score."""
    by_hash = {r[HASH_KEY]: r for r in train if r.get(HASH_KEY)}
    problems = []
    for record in valid:
        twin = by_hash.get(record.get(HASH_KEY))
        if twin is not None:
            problems.append(
                f"{record['source']}: image '{record['image_url']}' is identical to training "
                f"image '{twin['image_url']}' ({twin['source']}): train/validation leakage; "
                "remove one of them"
            )
    return problems


def check_duplicates(records: Sequence[dict], name: str) -> list[str]:
    """Identical images inside one dataset (a warning: they weigh double)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.get(HASH_KEY):
            groups[record[HASH_KEY]].append(record)
    duplicates = [group for group in groups.values() if len(group) > 1]
    if not duplicates:
        return []
    example = ", ".join(r["source"] for r in duplicates[0][:3])
    return [
        f"{name}: {len(duplicates)} images appear more than once (same content), e.g. {example}"
    ]


def check_rare_classes(task: str, records: Sequence[dict], name: str) -> list[str]:
    """Classes with very few examples train poorly (a warning)."""
    counts = class_counts(task, records)
    rare = sorted((n, c) for c, n in counts.items() if n < RARE_CLASS_EXAMPLES)
    if not rare:
        return []
    listed = ", ".join(f"{c} ({n})" for n, c in rare[:10])
    more = f" and {len(rare) - 10} more" if len(rare) > 10 else ""
    return [
        f"{name}: {len(rare)} classes have fewer than {RARE_CLASS_EXAMPLES} examples: "
        f"{listed}{more}; Azure recommends 10-15 per class"
    ]


def check_no_classes(task: str, records: Sequence[dict], name: str) -> list[str]:
    """A dataset whose labels name no class at all cannot train anything."""
    if records and not class_counts(task, records):
        return [f"{name}: no image has a label; nothing to learn from"]
    return []


def class_counts(task: str, records: Sequence[dict]) -> dict[str, int]:
    """Examples per class: images (classification) or objects (detection, segmentation)."""
    counts: Counter = Counter()
    for record in records:
        counts.update(label_names(task, record["label"]))
    return dict(sorted(counts.items()))


def summarise(task: str, records: Sequence[dict], n_dropped: int = 0) -> dict:
    """Images, classes with counts, objects per image and the image size range."""
    summary = {
        "images": len(records),
        "n_dropped": n_dropped,
        "classes": class_counts(task, records),
    }
    if task in OBJECT_TASKS:
        per_image = [len(r["label"]) for r in records]
        summary["objects"] = sum(per_image)
        summary["crowd_objects"] = sum(o["isCrowd"] for r in records for o in r["label"])
        summary["boxes_per_image"] = _spread(per_image)
    sizes = [r["image_details"] for r in records if r.get("image_details", {}).get("width")]
    summary["image_size"] = {
        "width": _spread([s["width"] for s in sizes]),
        "height": _spread([s["height"] for s in sizes]),
    }
    return summary


def _spread(values: Sequence[float]) -> dict:
    if not values:
        return {"min": None, "mean": None, "max": None}
    return {"min": min(values), "mean": round(sum(values) / len(values), 2), "max": max(values)}
