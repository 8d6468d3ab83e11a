"""Tasks: the task registry, and the per-task definitions shared by training, scoring,
export and explanations.

Public names: `TaskDescriptor`, `Preprocessing`, `TASKS`, `register_task`, `get_task`,
`task_names`, `tasks_of_kind`, `adapter_key` (engine/tasks/_base.py; the four Azure
tasks register in _builtin.py). Preprocessing lives here once per task
(classification.py, detection.py, tiling.py), so validation during training, batch
scoring, the endpoint and ONNX parity checks all see the same pixels. Importing this
package does not import torch.
"""

from automl.engine.tasks import _builtin  # noqa: F401  (registers the four tasks)
from automl.engine.tasks._base import (
    TASKS,
    Preprocessing,
    TaskDescriptor,
    adapter_key,
    get_task,
    register_task,
    task_names,
    tasks_of_kind,
)

__all__ = [
    "TASKS",
    "Preprocessing",
    "TaskDescriptor",
    "adapter_key",
    "get_task",
    "register_task",
    "task_names",
    "tasks_of_kind",
]
