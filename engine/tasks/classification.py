"""Classification preprocessing (Azure's, reference §3.12 and §11.2)."""

from __future__ import annotations

from collections.abc import Callable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSIFICATION_TASKS = ("image_classification", "image_classification_multilabel")


def build_train_transform(
    training_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Callable:
    """RandomResizedCrop, horizontal flip, colour jitter with p=0.5, tensor, normalise."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.RandomResizedCrop(training_crop_size),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.4)], p=0.5),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def build_valid_transform(
    validation_resize_size: int,
    validation_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Callable:
    """Resize the shorter side, centre-crop, tensor, normalise (validation and inference)."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize(validation_resize_size),
            T.CenterCrop(validation_crop_size),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )
