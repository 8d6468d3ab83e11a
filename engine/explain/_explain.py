"""Explain a model's predictions, per image: classifiers here, detectors in _objects.py.

`explain_images` works on any predictor-like object with `task`, `labels`, `settings`,
`model` and `device` (`automl.engine.predict.Predictor` is the real one; detectors also
need `predict` and `preprocess`). Every classification method sees the image exactly as
validation did: `valid_resize_size` resize, `valid_crop_size` centre crop, the model's
mean/std (the one transform of engine/tasks/classification.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from automl.engine.explain._base import (
    METHODS,
    ExplainParameters,
    ExplainSample,
    StopCheck,
    gradients_for_inputs,
    is_multilabel,
    task_kind,
)
from automl.engine.explain._objects import (
    ObjectExplanation,
    explain_objects,
    object_response_fields,
)
from automl.engine.explain._visualize import png_base64, png_bytes, render_grid
from automl.engine.tasks.classification import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_valid_transform,
    pil_to_normalized_tensor,
)

logger = logging.getLogger("automl.explain")


@dataclass
class ImageExplanation:
    """The explanation of one image: one entry per explained class, in class order."""

    explained_labels: list[str]
    scores: list[float]  # the model's score of each explained class
    probs: list[float]  # every class's score, label order
    attributions: list[np.ndarray] = field(default_factory=list)  # float32 [3, crop, crop]
    visualizations: list[bytes] = field(default_factory=list)  # PNG, 2x2 grid


def check_explainable(predictor: Any) -> None:
    """ExplainError unless `predictor`'s task can be explained: classification (Azure,
    §7.3), object detection and instance segmentation (D-RISE, our extension)."""
    task_kind(getattr(predictor, "task", None))


def crop_for_model(predictor: Any, image: Image.Image) -> tuple[Image.Image, ExplainSample]:
    """The validation crop of `image` and the sample (normalised input) made from it."""
    settings = predictor.settings
    mean = tuple(settings.get("mean") or IMAGENET_MEAN)
    std = tuple(settings.get("std") or IMAGENET_STD)
    transform = build_valid_transform(
        int(settings["valid_resize_size"]), int(settings["valid_crop_size"]), mean, std
    )
    crop = transform.center_crop(transform.resize(image.convert("RGB")))
    inputs = pil_to_normalized_tensor(crop, mean, std)[None].to(torch.device(predictor.device))
    inputs.requires_grad_(True)  # every method differentiates with respect to it
    return crop, ExplainSample(inputs=inputs, image=np.asarray(crop), mean=mean, std=std)


def class_scores(predictor: Any, inputs: torch.Tensor) -> torch.Tensor:
    """Softmax (multi-class) or sigmoid (multi-label) scores of one input, on the CPU."""
    with torch.no_grad():
        logits = predictor.model(inputs).float().cpu()[0]
    return torch.sigmoid(logits) if is_multilabel(predictor.task) else logits.softmax(0)


def classes_to_explain(task: str, scores: torch.Tensor, threshold: float) -> list[int]:
    """Multi-class: the argmax. Multi-label: every class scoring at least `threshold`."""
    if is_multilabel(task):
        return [i for i, score in enumerate(scores.tolist()) if score >= threshold]
    return [int(scores.argmax())]


def explain_one(
    predictor: Any,
    image: Image.Image,
    params: ExplainParameters,
    should_stop: StopCheck | None = None,
) -> ImageExplanation | ObjectExplanation:
    """Explain one RGB image with checked `params`: a classifier's classes, or a detector's
    objects (then `should_stop` is asked between batches of masks)."""
    params = params.for_task(predictor.task)
    if task_kind(predictor.task) == "objects":
        return explain_objects(predictor, image, params, should_stop)
    return explain_image(predictor, image, params)


def explain_image(
    predictor: Any, image: Image.Image, params: ExplainParameters
) -> ImageExplanation:
    """Explain one RGB image of a classifier with checked `params` (see
    `ExplainParameters.checked`)."""
    params = params.for_task(predictor.task)
    method = METHODS.get(params.method)
    method.require_modules()
    _, sample = crop_for_model(predictor, image)
    with gradients_for_inputs(predictor.model):
        scores = class_scores(predictor, sample.inputs)
        targets = classes_to_explain(
            predictor.task, scores, params.confidence_score_threshold_multilabel
        )
        attributions = [method.attribute(predictor.model, sample, t, params) for t in targets]
    result = ImageExplanation(
        explained_labels=[predictor.labels[t] for t in targets],
        scores=[float(scores[t]) for t in targets],
        probs=scores.tolist(),
        attributions=attributions,
    )
    if params.visualizations:
        result.visualizations = [png_bytes(render_grid(sample.image, a)) for a in attributions]
    return result


def explain_images(
    predictor: Any,
    images: list[Image.Image],
    *,
    should_stop: StopCheck | None = None,
    **xai_parameters: Any,
) -> list[dict]:
    """Explain each image (docs/azure-compatibility.md §7.3), JSON-ready, one dict per image.

    `xai_parameters` are `ExplainParameters` fields (`method`, `n_steps`, ..., D-RISE's
    `n_masks`, `mask_res`, `seed`); an unknown one is a TypeError. Classifiers: keys
    `visualizations` (base64 PNG, or a list of them for multi-label; None when not asked),
    `attributions` (nested list [3, crop, crop], or a list of them; None when not asked)
    and `explained_labels`. Detectors: `visualizations` (one base64 PNG), `attributions`
    ([objects, h, w]) and `explained_boxes` (see `object_response_fields`). Raises
    ExplainError for bad parameters or a task that cannot be explained, ExplainCancelled
    once `should_stop()` is true.
    """
    params = ExplainParameters(**xai_parameters).checked().for_task(predictor.task)
    if task_kind(predictor.task) == "objects":
        return [
            object_response_fields(explain_objects(predictor, image, params, should_stop), params)
            for image in images
        ]
    multilabel = is_multilabel(predictor.task)
    return [
        response_fields(explain_image(predictor, image, params), params, multilabel)
        for image in images
    ]


def response_fields(result: ImageExplanation, params: ExplainParameters, multilabel: bool) -> dict:
    """The endpoint's XAI keys of one image: lists for multi-label, one value for multi-class."""
    visuals = [png_base64(png) for png in result.visualizations]
    arrays = [a.tolist() for a in result.attributions]

    def one_or_all(values: list) -> Any:
        return values if multilabel else (values[0] if values else None)

    return {
        "visualizations": one_or_all(visuals) if params.visualizations else None,
        "attributions": one_or_all(arrays) if params.attributions else None,
        "explained_labels": list(result.explained_labels),
    }
