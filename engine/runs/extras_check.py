"""Optional dependencies a job needs, checked before its data is prepared: a YOLO model
needs the `yolo` extra (models.json's family `extra`), validation_metric_type coco or
coco_voc the `coco` extra. Without them the job would fail in its first trial, after the
data is prepared; with this check `automl job create` stops at once with one line."""

from __future__ import annotations

from automl import schemas
from automl.engine.runs.weights_check import trial_variants
from automl.engine.utils.extras import check_extra, check_installed

COCO_METRIC_TYPES = frozenset({"coco", "coco_voc"})


def require_job_extras(job) -> None:
    """MissingExtraError (one line) for the first optional dependency the job lacks."""
    for model in sorted(_model_names(job)):
        family = schemas.model_family(model) or {}
        if family.get("extra"):
            check_extra(family["extra"], f"model {model!r} ({family['name']} family)")
    if _metric_types(job) & COCO_METRIC_TYPES:
        check_installed("pycocotools", "coco", "validation_metric_type coco and coco_voc")


def _model_names(job) -> set[str]:
    return {str(v["model_name"]) for v in trial_variants(job) if v.get("model_name")}


def _metric_types(job) -> set[str]:
    """validation_metric_type's value and every value a search sub-space may sample."""
    resolved = job.resolved
    values = {(resolved.get("training_parameters") or {}).get("validation_metric_type")}
    for subspace in resolved.get("search_space") or []:
        value = subspace.get("validation_metric_type")
        values.update(value.get("values") or [] if isinstance(value, dict) else [value])
    return {str(value) for value in values if value}
