"""D-RISE: masks, similarity, the default mask count, the saliency of a known object (a
deterministic stand-in detector, legitimate since D-RISE is black-box) and real tiny
detectors of every family (shapes, non-constant maps, limits)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from automl.engine.explain import (
    Detections,
    Detector,
    ExplainCancelled,
    ExplainError,
    ExplainParameters,
    explain_images,
    explain_objects,
    explain_one,
)
from automl.engine.explain._drise import (
    default_n_masks,
    random_grids,
    similarity,
    upsample_masks,
)

SQUARE = (24, 16, 44, 36)  # x0, y0, x1, y1 of the bright square in a 64 x 48 image


class SquareFinder:
    """A stand-in detector with only the public Predictor surface (`predict`, `preprocess`):
    it finds the bright square of `square_image()`, boxed around its visible pixels, with a
    score equal to the visible fraction of the square."""

    task = "image_object_detection"
    labels = ["square"]
    device = "cpu"
    batch_size = 8

    def __init__(self) -> None:
        self.calls = 0

    def preprocess(self, images):
        return [
            torch.from_numpy(np.asarray(i, dtype=np.float32) / 255).permute(2, 0, 1) for i in images
        ]

    def predict(self, images, batch_size=None):
        self.calls += len(images)
        return [self.find(np.asarray(image, dtype=np.float32) / 255) for image in images]

    def find(self, pixels: np.ndarray) -> dict:
        x0, y0, x1, y1 = SQUARE
        visible = pixels[y0:y1, x0:x1].mean(axis=2) > 0.5
        fraction = float(visible.mean())
        if fraction < 0.05:
            return {"boxes": []}
        ys, xs = np.nonzero(visible)
        height, width = pixels.shape[:2]
        box = {
            "topX": (x0 + xs.min()) / width,
            "topY": (y0 + ys.min()) / height,
            "bottomX": (x0 + xs.max() + 1) / width,
            "bottomY": (y0 + ys.max() + 1) / height,
        }
        return {"boxes": [{"box": box, "label": "square", "score": fraction}]}


def square_image() -> Image.Image:
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    x0, y0, x1, y1 = SQUARE
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


def params(**values) -> ExplainParameters:
    return ExplainParameters(**{"n_masks": 200, "mask_res": 8, **values}).checked()


def test_the_map_of_the_only_object_is_higher_inside_its_box():
    finder = SquareFinder()
    result = explain_one(finder, square_image(), params())
    assert [o["label"] for o in result.objects] == ["square"] and result.n_masks == 200
    assert finder.calls == 1 + 200  # the unmasked image, then one run per mask
    [saliency] = result.maps
    assert result.maps.shape == (1, 48, 64) and result.maps.dtype == np.float32
    inside = np.zeros(saliency.shape, dtype=bool)
    x0, y0, x1, y1 = SQUARE
    inside[y0:y1, x0:x1] = True
    assert saliency.std() > 0
    # a D-RISE map sits on a baseline (every mask weighs something): compare its contrast
    scaled = (saliency - saliency.min()) / (saliency.max() - saliency.min())
    assert scaled[inside].mean() > scaled[~inside].mean() + 0.2  # 0.28-0.38 over seeds 0-5
    peak_y, peak_x = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert inside[peak_y, peak_x]  # the peak is on the object, not on the ground around it


def test_the_same_seed_gives_the_same_maps_and_another_seed_others():
    first = explain_one(SquareFinder(), square_image(), params(n_masks=24, seed=3)).maps
    again = explain_one(SquareFinder(), square_image(), params(n_masks=24, seed=3)).maps
    other = explain_one(SquareFinder(), square_image(), params(n_masks=24, seed=4)).maps
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_masks_do_not_depend_on_the_batch_size():
    finder = SquareFinder()
    small = explain_one(finder, square_image(), params(n_masks=20)).maps
    finder.batch_size = 7
    np.testing.assert_allclose(
        explain_one(finder, square_image(), params(n_masks=20)).maps, small, rtol=1e-5
    )


def test_rise_masks_are_smooth_shifted_and_in_range():
    cells, shifts = random_grids(6, 4, seed=0)
    assert cells.shape == (6, 4, 4) and set(cells.unique().tolist()) <= {0, 1}
    masks = upsample_masks(cells, shifts, 30, 50, torch.device("cpu"))
    assert masks.shape == (6, 1, 30, 50)
    assert masks.min() >= 0 and masks.max() <= 1
    values = masks[0, 0].flatten().unique()
    assert len(values) > 2  # bilinear: soft edges, not a binary grid


def test_similarity_is_iou_times_same_label_times_score():
    targets = Detections(
        torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([0]), torch.tensor([0.9])
    )
    found = Detections(
        torch.tensor([[0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 10.0]]),
        torch.tensor([0, 1]),  # the exact box has the other label
        torch.tensor([0.8, 1.0]),
    )
    assert similarity(targets, found).tolist() == pytest.approx([0.5 * 0.8])
    assert similarity(targets, Detections.empty()).tolist() == [0.0]


def test_similarity_uses_class_probabilities_where_given():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    targets = Detections(box, torch.tensor([0]), torch.tensor([0.9]), torch.tensor([[0.6, 0.8]]))
    found = Detections(box, torch.tensor([1]), torch.tensor([0.5]), torch.tensor([[0.8, 0.6]]))
    assert similarity(targets, found).tolist() == pytest.approx([0.96])


@pytest.mark.parametrize(
    ("gflops", "expected"),
    [(204.9, 350), (313.2, 250), (78.7, 1000), (0.0, 2000), (1e-3, 2000), (1e5, 100)],
)
def test_default_mask_count_follows_the_documented_rule(gflops, expected):
    assert default_n_masks(gflops * 1e9) == expected


def test_a_request_can_stop_an_explanation_between_batches():
    with pytest.raises(ExplainCancelled):
        explain_images(SquareFinder(), [square_image()], n_masks=50, should_stop=lambda: True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"n_masks": 0}, "n_masks must be an integer from 1 to 10000, got 0"),
        ({"mask_res": 1}, "mask_res must be an integer from 2 to 64, got 1"),
        ({"seed": -1}, "seed must be a whole number >= 0, got -1"),
        ({"method": "drice"}, "did you mean 'drise'?"),
    ],
)
def test_bad_drise_parameters_name_the_rule(values, expected):
    with pytest.raises(ExplainError) as info:
        ExplainParameters(**values).checked()
    assert expected in str(info.value)


def test_the_mask_bound_names_its_variable(monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_DRISE_MASKS", "100")
    with pytest.raises(ExplainError) as info:
        ExplainParameters(n_masks=101).checked()
    assert "from 1 to 100, got 101" in str(info.value)
    assert "AUTOML_MAX_DRISE_MASKS" in str(info.value)


def test_methods_must_fit_the_task(multiclass_predictor, flower_image):
    with pytest.raises(ExplainError) as info:
        explain_images(SquareFinder(), [square_image()], method="xrai")
    assert "'xrai' does not explain image_object_detection models" in str(info.value)
    assert "choose drise" in str(info.value)
    with pytest.raises(ExplainError) as info:
        explain_images(multiclass_predictor, [flower_image], method="drise")
    assert "'drise' does not explain image_classification models" in str(info.value)


@pytest.mark.parametrize(
    "name", ["test_tiny_fasterrcnn", "test_tiny_retinanet", "test_tiny_maskrcnn", "test_tiny_yolo"]
)
def test_real_tiny_detectors_get_one_map_per_reported_object(
    name, detector_predictor, street_image
):
    predictor = detector_predictor(name)
    detector = Detector(predictor)
    assert detector.fast  # masked copies go through the raw forward pass, not PIL
    [response] = predictor.predict([street_image])
    result = explain_objects(predictor, street_image, params(n_masks=24).for_task(predictor.task))
    assert len(response["boxes"]) > 0
    for got, reported in zip(result.objects, response["boxes"], strict=True):
        assert got["label"] == reported["label"]
        assert got["score"] == pytest.approx(reported["score"], abs=1e-6)
        assert got["box"] == pytest.approx(reported["box"], abs=1e-6)
    assert result.maps.shape == (len(response["boxes"]), 48, 64)
    assert all(saliency.std() > 0 for saliency in result.maps)
    picture = Image.open(io.BytesIO(result.visualization))
    assert picture.width >= 64 and picture.height >= 48


def test_objects_and_image_side_are_bounded(monkeypatch, detector_predictor, street_image):
    predictor = detector_predictor("test_tiny_fasterrcnn")
    monkeypatch.setenv("AUTOML_MAX_DRISE_OBJECTS", "2")
    monkeypatch.setenv("AUTOML_MAX_DRISE_IMAGE_SIDE", "32")
    result = explain_one(predictor, street_image, params(n_masks=8))
    assert result.maps.shape == (2, 24, 32)
    assert len(result.objects) == 2 and result.n_detected >= 2
    scores = [o["score"] for o in result.objects]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", ["test_tiny_fasterrcnn", "test_tiny_yolo"])
def test_the_default_mask_count_comes_from_the_models_flops(
    name, monkeypatch, detector_predictor, street_image
):
    """FLOPs are counted under the predictors' inference mode too (where conv2d arrives
    undecomposed), as torch's own counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    import automl.engine.explain._drise as drise

    counted = []
    monkeypatch.setattr(drise, "default_n_masks", lambda flops: counted.append(flops) or 8)
    predictor = detector_predictor(name)
    result = explain_one(predictor, street_image, ExplainParameters(n_masks=None).checked())
    with FlopCounterMode(display=False) as reference:
        predictor.predict([street_image])
    assert result.n_masks == 8 and counted == [reference.get_total_flops()] and counted[0] > 1e6
