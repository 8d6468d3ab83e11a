"""Every method explains a tiny trained classifier on the validation crop."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from automl.engine.explain import (
    METHODS,
    ExplainError,
    ExplainParameters,
    explain_image,
    explain_images,
)

# Few steps: tests check shapes and wiring; convergence is the sanity test's business.
FAST = {"n_steps": 4}


def decode_png(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def test_the_four_azure_methods_are_registered():
    assert set(METHODS.names()) == {
        "xrai",
        "integrated_gradients",
        "guided_gradcam",
        "guided_backprop",
    }


@pytest.mark.parametrize("method", ["integrated_gradients", "guided_gradcam", "guided_backprop"])
def test_multiclass_explanation_has_the_crop_shape_and_a_2x2_grid(
    multiclass_predictor, flower_image, method, crop_size
):
    [result] = explain_images(multiclass_predictor, [flower_image], method=method, **FAST)
    attributions = np.asarray(result["attributions"], dtype=np.float32)
    assert attributions.shape == (3, crop_size, crop_size)
    assert np.isfinite(attributions).all() and attributions.std() > 0
    png = decode_png(result["visualizations"])
    assert png.format == "PNG" and png.size == (2 * crop_size, 2 * crop_size)
    probs = multiclass_predictor.predict([flower_image])[0]["probs"]
    assert result["explained_labels"] == [multiclass_predictor.labels[int(np.argmax(probs))]]


def test_xrai_gives_one_value_per_region_repeated_over_channels(
    multiclass_predictor, flower_image, crop_size
):
    params = ExplainParameters(method="xrai", **FAST).checked()
    result = explain_image(multiclass_predictor, flower_image, params)
    [attributions] = result.attributions
    assert attributions.shape == (3, crop_size, crop_size) and attributions.dtype == np.float32
    assert np.array_equal(attributions[0], attributions[2])
    assert len(np.unique(attributions[0])) > 1  # several regions, ranked differently
    assert Image.open(io.BytesIO(result.visualizations[0])).size == (2 * crop_size,) * 2


def test_the_grid_starts_with_the_validation_crop(multiclass_predictor, flower_image, crop_size):
    from automl.engine.tasks.classification import build_valid_transform

    settings = multiclass_predictor.settings
    transform = build_valid_transform(settings["valid_resize_size"], settings["valid_crop_size"])
    crop = np.asarray(transform.center_crop(transform.resize(flower_image)))
    params = ExplainParameters(method="guided_backprop").checked()
    png = explain_image(multiclass_predictor, flower_image, params).visualizations[0]
    grid = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert np.array_equal(grid[:crop_size, :crop_size], crop)


def test_multilabel_explains_each_class_that_passes_the_threshold(
    multilabel_predictor, chess_image, crop_size
):
    probs = np.array(multilabel_predictor.predict([chess_image])[0]["probs"])
    # A threshold between the scores: some classes pass, some do not.
    threshold = float(np.sort(probs)[-2])
    [result] = explain_images(
        multilabel_predictor,
        [chess_image],
        method="integrated_gradients",
        confidence_score_threshold_multilabel=threshold,
        **FAST,
    )
    labels = multilabel_predictor.labels
    passing = [label for label, p in zip(labels, probs, strict=True) if p >= threshold]
    assert len(passing) >= 2 and len(passing) < len(probs)
    assert result["explained_labels"] == passing
    assert isinstance(result["visualizations"], list) and len(result["visualizations"]) == 2
    assert np.asarray(result["attributions"]).shape == (len(passing), 3, crop_size, crop_size)
    first, second = (np.asarray(a) for a in result["attributions"])
    assert not np.allclose(first, second)  # each class gets its own explanation


def test_multilabel_with_no_passing_class_explains_nothing(multilabel_predictor, chess_image):
    [result] = explain_images(
        multilabel_predictor,
        [chess_image],
        method="guided_backprop",
        confidence_score_threshold_multilabel=1.0,
    )
    probs = multilabel_predictor.predict([chess_image])[0]["probs"]
    assert max(probs) < 1.0  # a sigmoid never reaches 1 at this training length
    assert result == {"visualizations": [], "attributions": [], "explained_labels": []}


def test_keys_not_asked_for_are_none(multiclass_predictor, flower_image):
    [result] = explain_images(
        multiclass_predictor,
        [flower_image],
        method="guided_backprop",
        visualizations=False,
        attributions=False,
    )
    assert result["visualizations"] is None and result["attributions"] is None
    assert len(result["explained_labels"]) == 1


def test_approximation_methods_change_integrated_gradients(multiclass_predictor, flower_image):
    results = [
        explain_images(
            multiclass_predictor,
            [flower_image],
            method="integrated_gradients",
            approximation_method=rule,
            n_steps=5,
            visualizations=False,
        )[0]["attributions"]
        for rule in ("riemann_middle", "gausslegendre")
    ]
    assert not np.allclose(results[0], results[1])


def test_explaining_leaves_the_model_as_it_was(multiclass_predictor, flower_image):
    model = multiclass_predictor.model
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    inplace = [m for m in model.modules() if getattr(m, "inplace", False)]
    explain_images(multiclass_predictor, [flower_image], method="guided_gradcam")
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before
    assert all(m.inplace for m in inplace) and not model.training
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"n_steps": 1}, "n_steps must be an integer of at least 2, got 1"),
        ({"n_steps": 2.5}, "n_steps must be an integer of at least 2, got 2.5"),
        ({"method": "xria"}, "did you mean 'xrai'?"),
        ({"approximation_method": "simpson"}, "approximation_method 'simpson' is unknown"),
        ({"confidence_score_threshold_multilabel": 1.5}, "in [0, 1], got 1.5"),
    ],
)
def test_bad_parameters_raise_a_clear_explain_error(
    multiclass_predictor, flower_image, overrides, expected
):
    with pytest.raises(ExplainError) as info:
        explain_images(multiclass_predictor, [flower_image], **overrides)
    assert expected in str(info.value)


def test_tasks_without_explanations_are_refused_naming_the_supported_tasks(flower_image):
    from types import SimpleNamespace

    predictor = SimpleNamespace(task="image_segmentation_semantic", labels=["road"])
    with pytest.raises(ExplainError) as info:
        explain_images(predictor, [flower_image], method="guided_backprop")
    message = str(info.value)
    assert "image_segmentation_semantic" in message
    assert "image_classification, image_classification_multilabel, image_object_detection" in (
        message
    )
