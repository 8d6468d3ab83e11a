"""Torch datasets over manifests, returning what each task's trainer needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from automl.engine.data.images import load_image_rgb


class ClassificationDataset(Dataset):
    """Images with a class index (multi-class) or a multi-hot float vector (multi-label)."""

    def __init__(
        self,
        records: Sequence[dict],
        labels: Sequence[str],
        transform: Callable | None = None,
        multilabel: bool = False,
    ) -> None:
        self.records = list(records)
        self.labels = list(labels)
        self.transform = transform
        self.multilabel = multilabel
        self._index = {name: i for i, name in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.records)

    def target(self, i: int) -> int | torch.Tensor:
        label = self.records[i]["label"]
        if not self.multilabel:
            return self._index[label]
        target = torch.zeros(len(self.labels), dtype=torch.float32)
        for name in label:
            target[self._index[name]] = 1.0
        return target

    def __getitem__(self, i: int):
        image = load_image_rgb(self.records[i]["image_url"])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.target(i)
