"""Sanity check: on a model that can only solve its task by looking at one image region,
integrated gradients put most of the attribution mass in that region."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from automl.engine.explain import explain_images

SIZE = 32
HALF = SIZE // 2
MEAN_STD = (0.5, 0.5, 0.5)


def quadrant_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """Blocky noise everywhere, as bright and contrasted as the stripes but carrying no class;
    the top-left quadrant holds the class: horizontal stripes (class 0) or vertical stripes
    (class 1), at a random phase."""
    blocks = rng.uniform(0.15, 0.85, size=(SIZE // 2, SIZE // 2, 3))
    image = blocks.repeat(2, axis=0).repeat(2, axis=1)
    stripes = (np.arange(HALF) + rng.integers(0, 4)) // 2 % 2 * 0.7 + 0.15
    pattern = np.tile(stripes[:, None], (1, HALF)) if label == 0 else np.tile(stripes, (HALF, 1))
    image[:HALF, :HALF] = pattern[..., None] + rng.normal(0, 0.03, size=(HALF, HALF, 3))
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def quadrant_dataset(n_images: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n_images)
    return [quadrant_image(int(y), rng) for y in labels], labels


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(images)).float().permute(0, 3, 1, 2) / 255.0
    return (batch - 0.5) / 0.5


def train_quadrant_model(seed: int = 0) -> torch.nn.Module:
    """A tiny CNN trained in-process for a few seconds on the quadrant task."""
    from automl.engine.models._builders import TinyCnnClassifier

    torch.manual_seed(seed)
    images, labels = quadrant_dataset(384, seed)
    inputs, targets = to_batch(images), torch.from_numpy(labels)
    model = TinyCnnClassifier(2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(6):
        for start in range(0, len(inputs), 32):
            loss = torch.nn.functional.cross_entropy(
                model(inputs[start : start + 32]), targets[start : start + 32]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def make_predictor(model: torch.nn.Module) -> SimpleNamespace:
    """The Predictor attributes explain_images reads, around an in-process model."""
    return SimpleNamespace(
        task="image_classification",
        labels=["horizontal", "vertical"],
        settings={
            "valid_resize_size": SIZE,
            "valid_crop_size": SIZE,
            "mean": MEAN_STD,
            "std": MEAN_STD,
        },
        model=model.eval(),
        device="cpu",
    )


def top_left_shares(predictor, images: list[np.ndarray]) -> list[float]:
    """Per image: share of the positive attribution (evidence for the explained class,
    channels summed) that lies in the top-left quadrant."""
    results = explain_images(
        predictor,
        [Image.fromarray(image) for image in images],
        method="integrated_gradients",
        n_steps=20,
        visualizations=False,
    )
    shares = []
    for result in results:
        evidence = np.clip(np.asarray(result["attributions"]).sum(axis=0), 0.0, None)
        shares.append(float(evidence[:HALF, :HALF].sum() / evidence.sum()))
    return shares


def test_integrated_gradients_point_at_the_deciding_quadrant():
    from automl.engine.models._builders import TinyCnnClassifier

    images, labels = quadrant_dataset(12, seed=99)
    trained = make_predictor(train_quadrant_model(seed=0))
    with torch.no_grad():
        predicted = trained.model(to_batch(images)).argmax(1).numpy()
    assert (predicted == labels).mean() >= 0.9, "the sanity model did not learn its task"

    shares = top_left_shares(trained, images)
    # The quadrant is a quarter of the image: most of the evidence lies there.
    assert np.mean(shares) > 0.6 and min(shares) > 0.5, shares
    # Control: an untrained model's evidence is spread (near 0.25), so the share above
    # comes from what the model learned, not from the images alone.
    torch.manual_seed(0)
    untrained = top_left_shares(make_predictor(TinyCnnClassifier(2)), images)
    assert np.mean(untrained) < 0.4, untrained
