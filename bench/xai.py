"""Seconds per image of each explanation method, on the same model and image (one run).

A table to choose a method from (Azure: quality XRAI > guided GradCAM > integrated
gradients > guided backprop; speed the reverse). No goal. The model is a package (a run
folder, a package folder or a registered NAME[:VERSION]) or, without --model, an untrained
--model-name built in-process at Azure's default 256 resize / 224 crop: timings do not
depend on the weights. A warm-up call per method (imports, first-call set-up) is not timed.
Usage: python bench/xai.py [--model REF | --model-name resnet18] [--image PATH]
       [--n-steps 50] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE_DIR = REPO / "examples" / "data" / "flowers5" / "valid"
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def load_predictor(args: argparse.Namespace):
    if args.model:
        from automl.engine.predict import Predictor
        from automl.engine.registry import resolve_model_ref

        return Predictor.from_package(resolve_model_ref(args.model), device=args.device)
    from automl.engine.models import build_model, get_model_spec

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
