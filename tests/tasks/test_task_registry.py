"""The task registry and the (task kind, model runtime) tables of trainers and predictors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from automl import schemas
from automl.engine.errors import RegistryError
from automl.engine.tasks import TASKS, adapter_key, get_task, register_task, tasks_of_kind


def test_the_registry_holds_exactly_the_schemas_tasks():
    assert TASKS.names() == sorted(schemas.TASKS)


@pytest.mark.parametrize(
    ("name", "short", "kind", "multilabel", "objects", "masks", "tiling"),
    [
        ("image_classification", "cls", "classification", False, False, False, False),
        ("image_classification_multilabel", "mlcls", "classification", True, False, False, False),
        ("image_object_detection", "det", "detection", False, True, False, True),
        ("image_instance_segmentation", "seg", "segmentation", False, True, True, False),
    ],
)
def test_task_facts(name, short, kind, multilabel, objects, masks, tiling):
    task = get_task(name)
    assert (task.short_name, task.kind, task.multilabel) == (short, kind, multilabel)
    assert (task.objects, task.masks, task.tiling) == (objects, masks, tiling)
    assert task.default_metric == schemas.default_primary_metric(name)
    assert task.fixed_input_size == (kind == "classification")


def test_unknown_task_suggests_the_closest():
    with pytest.raises(RegistryError, match="did you mean 'image_object_detection'"):
        get_task("image_object_detections")


def test_a_duplicate_short_name_is_refused():
    other = dataclasses.replace(get_task("image_object_detection"), name="image_other")
    with pytest.raises(ValueError, match="short name 'det'"):
        register_task(other)
    assert "image_other" not in TASKS


def test_importing_the_task_registry_imports_no_torch():
    code = "import sys, automl.engine.tasks; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_every_model_has_a_trainer_and_a_predictor_for_each_of_its_tasks():
    """The contract of the two tables: every registered model can train and predict."""
    from automl.engine.models import MODELS, family_of, get_model_spec
    from automl.engine.predict import PREDICTORS
    from automl.engine.training.trainers import TRAINERS

    for name in MODELS:
        spec = get_model_spec(name)
        assert family_of(name).runtime == spec.runtime
        for task in spec.tasks:
            key = adapter_key(get_task(task).kind, spec.runtime)
            assert key in TRAINERS and key in PREDICTORS, (name, key)


def test_the_tables_are_keyed_by_kind_and_runtime():
    from automl.engine.predict import PREDICTORS
    from automl.engine.training.trainers import TRAINERS

    expected = {
        "classification/torch",
        "detection/torch",
        "segmentation/torch",
        "detection/ultralytics",
        "segmentation/ultralytics",
        "classification/transformers",  # Transformers models by hub id
        "detection/transformers",
        "segmentation/transformers",
    }
    assert set(TRAINERS.names()) == expected == set(PREDICTORS.names())


def test_model_families_are_the_schemas_families():
    from automl.engine.models import MODELS, get_model_spec

    for name in MODELS:
        assert get_model_spec(name).family == schemas.model_family(name)["name"], name


def test_kinds_group_the_classification_tasks():
    assert tasks_of_kind("classification") == [
        "image_classification",
        "image_classification_multilabel",
    ]
