"""Seconds per image of each explanation method, on the same model and image (one run).

A table to choose a method from (Azure: quality XRAI > guided GradCAM > integrated
gradients > guided backprop; speed the reverse). No goal. The model is a package (a run
folder, a package folder or a registered NAME[:VERSION]) or, without --model, an untrained
--model-name built in-process at Azure's default 256 resize / 224 crop: timings do not
depend on the weights. A warm-up call per method (imports, first-call set-up) is not timed.

Detection and instance segmentation models (a detector --model, or --model-name
fasterrcnn_resnet50_fpn, yolov8, ...) get D-RISE rows instead: the image scaled to
--image-side (640) on its longest side, --n-masks masks (a few on a CPU: the time is linear
in them), the seconds per mask, the FLOPs of one forward pass, the default mask count they
give (engine/explain/_drise.py) and the seconds that default takes here. Goal: under 10 s
at the default count on one GPU. Untrained detectors are built with box_score_thresh 0.001
so that they report objects to explain.
Usage: python bench/xai.py [--model REF | --model-name resnet18] [--image PATH]
       [--n-steps 50] [--n-masks 16] [--image-side 640] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE_DIR = REPO / "examples" / "data" / "flowers5" / "valid"
CLASSIFICATION_TASKS = ("image_classification", "image_classification_multilabel")
DETECTOR_SETTINGS = {  # Azure's R-CNN defaults, a low score threshold (untrained heads)
    "min_size": 600,
    "max_size": 1333,
    "box_score_thresh": 0.001,
    "nms_iou_thresh": 0.5,
    "box_detections_per_img": 100,
}
# (label, explain_images keywords)
CASES = [
    ("guided_backprop", {"method": "guided_backprop"}),
    ("guided_gradcam", {"method": "guided_gradcam"}),
    ("integrated_gradients riemann_middle", {"method": "integrated_gradients"}),
    (
        "integrated_gradients gausslegendre",
        {"method": "integrated_gradients", "approximation_method": "gausslegendre"},
    ),
    ("xrai fast", {"method": "xrai", "xrai_fast": True}),
    ("xrai full", {"method": "xrai", "xrai_fast": False}),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model ref (package folder, run folder, NAME[:V])")
    parser.add_argument("--model-name", default="resnet18", help="untrained model to build")
    parser.add_argument("--image", type=Path, help="image (default: a flowers5 image)")
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--n-masks", type=int, default=16, help="D-RISE masks timed")
    parser.add_argument("--image-side", type=int, default=640, help="D-RISE image side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def load_predictor(args: argparse.Namespace):
    if args.model:
        from automl.engine.predict import Predictor
        from automl.engine.registry import resolve_model_ref

        return Predictor.from_package(resolve_model_ref(args.model), device=args.device)
    from automl.engine.models import build_model, get_model_spec

    if not set(get_model_spec(args.model_name).tasks) & set(CLASSIFICATION_TASKS):
        return untrained_detector(args)

    spec = get_model_spec(args.model_name)
    model = build_model(args.model_name, 5, pretrained=False, crop_size=224)
    settings = {
        "valid_resize_size": 256,
        "valid_crop_size": 224,
        "mean": spec.mean,
        "std": spec.std,
    }
    return SimpleNamespace(
        task="image_classification",
        labels=[f"class_{i}" for i in range(5)],
        settings=settings,
        model=model.to(args.device).eval(),
        device=args.device,
        meta={"model_name": args.model_name},
    )


def untrained_detector(args: argparse.Namespace):
    """A Predictor of an untrained --model-name detector, packaged in a temporary folder."""
    import tempfile

    from automl.engine.models import build_detection_model, get_model_spec, write_model_package
    from automl.engine.predict import Predictor

    os.environ.setdefault("YOLO_OFFLINE", "1")
    task = get_model_spec(args.model_name).tasks[0]
    settings = {**DETECTOR_SETTINGS, "model_size": "medium"}
    model = build_detection_model(args.model_name, 5, pretrained=False, settings=settings)
    folder = Path(tempfile.mkdtemp(prefix="bench-xai-")) / "package"
    parameters = {
        "min_size": 600,
        "max_size": 1333,
        "image_size": 640,
        "model_size": "medium",
        "box_score_threshold": 0.001,
        "nms_iou_threshold": 0.5,
        "box_detections_per_image": 100,
        "tile_grid_size": None,
    }
    write_model_package(
        folder,
        model,
        task=task,
        model_name=args.model_name,
        labels=[f"class_{i}" for i in range(5)],
        training_parameters=parameters,
    )
    return Predictor.from_package(folder, device=args.device)


def drise_rows(predictor, image, args: argparse.Namespace) -> None:
    """Print D-RISE's timing rows for a detector."""
    from automl.engine.explain import ExplainParameters, explain_one
    from automl.engine.explain._detector import Detector
    from automl.engine.explain._drise import default_n_masks
    from automl.engine.explain._objects import fit_side, run_counted

    image = fit_side(image.resize((args.image_side, args.image_side * 3 // 4)), args.image_side)
    _, flops = run_counted(lambda: Detector(predictor).reference(image), count=True)
    params = ExplainParameters(method="drise", n_masks=args.n_masks).checked()
    explain_one(predictor, image, ExplainParameters(method="drise", n_masks=1).checked())
    start = time.perf_counter()
    result = explain_one(predictor, image, params)
    seconds = time.perf_counter() - start
    per_mask = seconds / args.n_masks
    default = default_n_masks(flops)
    print(f"image {image.size}, {len(result.objects)} object(s), {flops / 1e9:.1f} GFLOPs/pass")
    print(f"{'method':<38} {'s/image':>8} {'s/mask':>8} {'default':>8} {'s@default':>10}")
    label = f"drise {args.n_masks} masks"
    print(f"{label:<38} {seconds:>8.2f} {per_mask:>8.3f} {default:>8} {per_mask * default:>10.1f}")


def time_case(predictor, image, keywords: dict, n_steps: int) -> float:
    from automl.engine.explain import explain_images

    explain_images(predictor, [image], n_steps=n_steps, **keywords)  # warm-up
    start = time.perf_counter()
    explain_images(predictor, [image], n_steps=n_steps, **keywords)
    return time.perf_counter() - start


def main() -> int:
    args = parse_args()
    import torch

    from automl.engine.data.images import load_image_rgb

    torch.set_num_threads(args.threads)
    image_path = args.image or sorted(DEFAULT_IMAGE_DIR.rglob("*.jpg"))[0]
    image = load_image_rgb(image_path)
    predictor = load_predictor(args)
    name = getattr(predictor, "meta", {}).get("model_name", args.model_name)
    if predictor.task not in CLASSIFICATION_TASKS:
        print(f"model {name}, {args.threads} thread(s), device {args.device}")
        drise_rows(predictor, image, args)
        return 0
    crop = predictor.settings["valid_crop_size"]
    print(
        f"model {name}, crop {crop}, image {image_path.name} {image.size}, "
        f"n_steps {args.n_steps}, {args.threads} thread(s), device {args.device}"
    )
    print(f"{'method':<38} {'s/image':>8}")
    for label, keywords in CASES:
        seconds = time_case(predictor, image, keywords, args.n_steps)
        print(f"{label:<38} {seconds:>8.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
