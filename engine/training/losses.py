"""Loss functions, with Azure's `weighted_loss` rule (docs/azure-compatibility.md §3.4).

weighted_loss 0: no weights; 1: sqrt(class weights); 2: class weights. Weights apply only
when the training set is imbalanced: max class count // min class count > 2. Multi-class
weights are 1/frequency (CrossEntropy `weight`), multi-label weights (N - freq)/freq
(BCEWithLogits `pos_weight`).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger("automl.training")

IMBALANCE_RATE_THRESHOLD = 2


def class_frequencies(records: list[dict], labels: list[str], multilabel: bool) -> torch.Tensor:
    """Training images per class (an image counts once for each of its labels)."""
    index = {name: i for i, name in enumerate(labels)}
    counts = torch.zeros(len(labels), dtype=torch.float64)
    for record in records:
        for name in record["label"] if multilabel else [record["label"]]:
            counts[index[name]] += 1
    return counts


def imbalance_rate(counts: torch.Tensor) -> int:
    """max count // min count over classes with at least one image (Azure's integer rate)."""
    present = counts[counts > 0]
    if present.numel() == 0:
        return 0
    return int(present.max().item() // present.min().item())


def loss_weights(
    counts: torch.Tensor, n_images: int, multilabel: bool, weighted_loss: int
) -> torch.Tensor | None:
    """The weight vector of `weighted_loss`, or None when no weighting applies."""
    if weighted_loss == 0:
        return None
    rate = imbalance_rate(counts)
    if rate <= IMBALANCE_RATE_THRESHOLD:
        logger.info(
            "weighted_loss=%d not applied: class imbalance rate %d is not above %d",
            weighted_loss,
            rate,
            IMBALANCE_RATE_THRESHOLD,
        )
        return None
    safe = counts.clamp(min=1.0)  # a class without images must not divide by zero
    weights = (n_images - safe) / safe if multilabel else 1.0 / safe
    weights = torch.sqrt(weights) ** weighted_loss
    logger.info("weighted_loss=%d applied (imbalance rate %d)", weighted_loss, rate)
    return weights.float()


def build_loss(
    records: list[dict], labels: list[str], multilabel: bool, weighted_loss: int
) -> nn.Module:
    """CrossEntropy (multi-class) or BCEWithLogits (multi-label), weighted per §3.4."""
    counts = class_frequencies(records, labels, multilabel)
    weights = loss_weights(counts, len(records), multilabel, weighted_loss)
    if multilabel:
        return nn.BCEWithLogitsLoss(pos_weight=weights)
    return nn.CrossEntropyLoss(weight=weights)
