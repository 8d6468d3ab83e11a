"""The trainer of Transformers' DETR-family detectors ("transformers" runtime), object
detection and instance segmentation.

The models are wrapped behind torchvision's detector interface (engine/models/_hf_detector.py:
a list of images and targets in, the Hungarian-matched loss out in training mode; boxes,
scores, 1-based labels and masks out in eval mode), so the epochs, validation (Azure's mAP
through engine/metrics), validation loss, tiling, checkpoints and DDP are the detection
trainer's own. What differs is the model: built from its config (hub id or tiny test
config) by engine/models/_hf_detection.py, clipped by gradient norm 0.1 (DETR's recipe,
the spec's `grad_clip`).
"""

from __future__ import annotations

from automl.engine.models._hf import transformers_module
from automl.engine.training._detection import DetectionTrainer
from automl.engine.training.trainers import TrialInputs


class HfDetectionTrainer(DetectionTrainer):
    """image_object_detection and image_instance_segmentation with Transformers models."""

    def build(self, trial: TrialInputs, settings, device, cancel):
        transformers_module(
            trial.model_name
        )  # a missing install is one line before any data is read
        return super().build(trial, settings, device, cancel)
