"""`automl.load_model`: a model package as `automl model predict` loads it, predicting on
the images a Python caller holds."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._results import ClassificationResult, DetectionResult, result_from_azure

if TYPE_CHECKING:  # pragma: no cover
    from automl.engine.predict import Predictor

Result = ClassificationResult | DetectionResult


class Model:
    """A loaded model package. `predict(images)` takes one image or a list of them: paths,
    URLs, encoded bytes, PIL images or numpy arrays (HWC or HW, uint8 or float in [0, 1])."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def __repr__(self) -> str:
        return f"Model(task={self.task!r}, labels={self.labels!r}, model_dir={self.model_dir!r})"

    @property
    def task(self) -> str:
        return self.predictor.task

    @property
    def labels(self) -> list[str]:
        return self.predictor.labels

    @property
    def model_dir(self) -> Path | None:
        return self.predictor.model_dir

    def predict(self, images: Any, *, batch_size: int | None = None) -> Result | list[Result]:
        """One result for one image, a list for a list (in order). Images are decoded a
        batch at a time (`batch_size`, default the package's `inference_batch_size`)."""
        from automl.engine.predict.sources import is_single_source

        if is_single_source(images):
            return self._predict_all([images], batch_size)[0]
        if not isinstance(images, Iterable):
            return self._predict_all([images], batch_size)[0]  # a clear error for the type
        return self._predict_all(list(images), batch_size)

    def _predict_all(self, sources: list, batch_size: int | None) -> list[Result]:
        size = batch_size or self.predictor.batch_size
        results: list[Result] = []
        for start in range(0, len(sources), size):
            results.extend(self._predict_batch(sources[start : start + size], start))
        return results

    def _predict_batch(self, sources: list, offset: int) -> list[Result]:
        from automl.engine.predict.sources import image_from_source

        fit = self.predictor.decode_size
        images = [
            image_from_source(source, f"images[{offset + i}]", fit)
            for i, source in enumerate(sources)
        ]
        responses = self.predictor.predict(images, batch_size=len(images))
        multilabel = bool(getattr(self.predictor.task_predictor, "multilabel", False))
        return [result_from_azure(response, multilabel=multilabel) for response in responses]


def load_model(
    ref: str | os.PathLike, *, device: str = "cpu", settings: dict | None = None
) -> Model:
    """The model a reference names, resolved as `automl model predict REF` resolves it: a
    package folder (a run's `best_model/`, a trial's `outputs/`, a run directory), a
    registry reference `name[:version|@label]`, or a job name under ./runs. `settings`
    override the package's settings.json keys (`--setting`); `device` is cpu, cuda[:N]
    or auto."""
    from automl.engine.predict import load_predictor

    return Model(load_predictor(ref, device=device, settings=settings))
