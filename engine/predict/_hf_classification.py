"""Transformers classifiers (hub ids) predict like any classifier: the module returns
logits (engine/models/_hf_classification.py), so the classification predictor serves,
exports and explains them."""

from __future__ import annotations

from automl.engine.predict._base import register_predictor
from automl.engine.predict._classification import ClassificationPredictor

register_predictor("classification", "transformers", ClassificationPredictor)
