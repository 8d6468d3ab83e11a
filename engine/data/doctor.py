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
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from automl.engine.data.images import oriented_size
from automl.engine.data.labels import label_names
from automl.engine.data.tasks import OBJECT_TASKS
from automl.engine.data.urls import read_bytes
from automl.engine.errors import AutomlError
from automl.schemas import limit, limit_spec

MIN_TRAINING_IMAGES = 10  # Azure's documented minimum
MAX_LINES_NAMED = 10  # lines a warning names before "and N more"
RARE_CLASS_EXAMPLES = 5  # below this a class is flagged (Azure recommends 10-15 per label)
HASH_KEY = "_sha1"  # private record key: content hash, never written to manifests

# Images over the pixel bound are reported per line (check_pixels); Pillow's warning about
# the same images would only repeat it, on stderr, without saying where.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


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
    """Read, hash and fully decode one image (JPEGs at reduced scale, which is fast).

    Never raises for a bad file: a missing, non-regular (folder, device, FIFO) or oversized
    file, one over the pixel bound (a decompression bomb), a truncated or corrupt one:
    each is the probe's `problem`, which the reader reports at the file and line.
    """
    try:
        data = read_bytes(location)
    except AutomlError as exc:
        return ImageProbe(problem=_read_problem(exc, location))
    except OSError as exc:
        return ImageProbe(problem=f"cannot be read ({exc.strerror or exc})")
    digest = hashlib.sha1(data).hexdigest()
    try:
        width, height = _decode(data)
    except _ImageProblem as exc:
        return ImageProbe(sha1=digest, problem=str(exc))
    return ImageProbe(width=width, height=height, sha1=digest)


class _ImageProblem(Exception):
    """Why an image cannot be used (internal to the probe)."""


def _decode(data: bytes) -> tuple[int, int]:
    """The image's upright size, after checking its pixels and decoding it in full."""
    max_pixels = pixel_bound()
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = oriented_size(image)
            check_pixels(width, height, max_pixels)
            # draft() lets libjpeg decode at 1/8 scale: the whole stream is still read, so
            # truncation and corruption are caught at a fraction of the cost.
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except Image.DecompressionBombError:
        raise _ImageProblem(_bomb_problem(max_pixels)) from None
    except UnidentifiedImageError:
        raise _ImageProblem("is not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise _ImageProblem(f"is corrupt or truncated ({exc})") from None
    except _ImageProblem:
        raise
    except Exception as exc:  # noqa: BLE001 (a hostile file can upset a decoder in any way)
        raise _ImageProblem(f"is corrupt ({type(exc).__name__}: {exc})") from None
    return width, height


def pixel_bound() -> int:
    """The `image_pixels` limit. Pillow's own bomb check is raised to it when it is lower,
    so the limit (and the variable that raises it) decides, not Pillow's default."""
    max_pixels = limit("image_pixels")
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    return max_pixels


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Raise _ImageProblem for an image with no pixels or more than `max_pixels`."""
    if width < 1 or height < 1:
        raise _ImageProblem(f"has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise _ImageProblem(
            f"is {width} x {height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,} pixels per image; {pixels_hint()} or downscale the image"
        )


def _bomb_problem(max_pixels: int) -> str:
    ceiling = 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)
    return (
        f"declares more than {ceiling:,} pixels (a decompression bomb?), over the limit of "
        f"{max_pixels:,} pixels per image; {pixels_hint()} or downscale the image"
    )


def pixels_hint() -> str:
    # not limit_hint(): the bound's CLI flag belongs to `model serve`/`predict`, not to data
    return f"raise it with {limit_spec('image_pixels')['env']}=N"


def _read_problem(exc: AutomlError, location: str) -> str:
    """A reading error as a probe problem, without repeating the path the reader names."""
    text = exc.message.removeprefix(f"image {location}: ")
    if text == "no such file":
        return "not found"
    return f"{text}; {exc.hint}" if exc.hint else text


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


def find_leakage(train: Sequence[dict], valid: Sequence[dict]) -> list[tuple[dict, dict]]:
    """(validation record, its training twin) for each validation image identical (by
    content hash) to a training image: train/validation leakage, which inflates scores."""
    by_hash = {r[HASH_KEY]: r for r in train if r.get(HASH_KEY)}
    pairs = []
    for record in valid:
        twin = by_hash.get(record.get(HASH_KEY))
        if twin is not None:
            pairs.append((record, twin))
    return pairs


def leakage_warnings(pairs: Sequence[tuple[dict, dict]], n_valid: int) -> list[str]:
    """One warning naming the leaked validation lines and their training twins.

    Leakage never stops a run (real data sets hold a few duplicates, and a scheduled
    retraining must not die of them): the leaked copies are left out of validation.
    """
    if not pairs:
        return []
    shown = ", ".join(f"{v['source']} = {t['source']}" for v, t in pairs[:MAX_LINES_NAMED])
    more = f" and {len(pairs) - MAX_LINES_NAMED} more" if len(pairs) > MAX_LINES_NAMED else ""
    return [
        f"{len(pairs)} of {n_valid} validation images are identical to training images "
        f"(train/validation leakage): {shown}{more}; they are left out of the validation "
        "set that scores the trials (split.json lists them); remove them from one side"
    ]


def check_all_leaked(pairs: Sequence, n_valid: int) -> list[str]:
    """Every validation image is also in training: nothing honest is left to score on."""
    if not pairs or len(pairs) < n_valid:
        return []
    return [
        f"validation data: all {n_valid} images are identical to training images, so no "
        "validation image is left to score trials on; give validation_data that differs "
        "from the training data, or leave it out to split the training data"
    ]


def check_duplicates(records: Sequence[dict], name: str) -> list[str]:
    """Identical images inside one dataset (a warning, never an error: they weigh double)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.get(HASH_KEY):
            groups[record[HASH_KEY]].append(record)
    duplicates = [group for group in groups.values() if len(group) > 1]
    if not duplicates:
        return []
    shown = "; ".join(" = ".join(r["source"] for r in group[:3]) for group in duplicates[:5])
    more = f"; and {len(duplicates) - 5} more" if len(duplicates) > 5 else ""
    return [
        f"{name}: images that appear more than once (same content) count several times "
        f"({len(duplicates)} such images): {shown}{more}"
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
