"""Incremental training: start a trial from an earlier model's weights.

Sources (docs/azure-compatibility.md §3.9 and our extension):
- `checkpoint_run_id`: a job name (its best model: wherever the index of runs says, else
  under ./runs or beside this job's run directory), `job/trial`, a run directory or a model
  package folder;
- `checkpoint_model`: a registered model, NAME[:VERSION|@label].

When the class list changed, the head rows of classes both models know are carried over
(by name, whatever their order), new classes start untrained, and a notice says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from automl.engine.errors import AutomlError, TrialError

logger = logging.getLogger("automl.training")


def checkpoint_package(params: dict, run_dir: str | Path | None = None) -> tuple[str, Path] | None:
    """(what the user wrote, package folder) of the trial's starting weights, or None."""
    from automl.engine.registry import resolve_checkpoint_ref, resolve_registered_checkpoint

    run_id, registered = params.get("checkpoint_run_id"), params.get("checkpoint_model")
    if run_id and registered:
        raise TrialError(
            f"both checkpoint_run_id={run_id!r} and checkpoint_model={registered!r} are set",
            hint="keep one of them",
        )
    if registered:
        return f"checkpoint_model={registered!r}", resolve_registered_checkpoint(registered)
    if not run_id:
        return None
    roots = [Path("runs")] + ([Path(run_dir).parent] if run_dir else [])
    indexed = _indexed_run_dir(run_id.partition("/")[0])
    found = resolve_checkpoint_ref(run_id, roots, run_dirs=[indexed] if indexed else [])
    return f"checkpoint_run_id={run_id!r}", found


def _indexed_run_dir(job_name: str) -> Path | None:
    """The run directory of job `job_name` from the index of runs (any folder)."""
    from automl.engine.registry.run_index import RunIndex

    try:
        row = RunIndex().get(job_name)
    except AutomlError as error:  # the other places are still looked at
        logger.warning("%s", error.message)
        return None
    return row.run_dir if row is not None else None


def start_from_checkpoint(model: nn.Module, spec: dict, model_name: str) -> None:
    """Load the spec's checkpoint_run_id / checkpoint_model weights into `model`, if set."""
    found = checkpoint_package(spec["training_parameters"], spec.get("run_dir"))
    if found is not None:
        where, folder = found
        load_package_weights(model, folder, model_name, spec["data"]["labels"], where)


def load_package_weights(
    model: nn.Module, folder: Path, model_name: str, labels: list[str] | None, where: str
) -> None:
    """Copy the package's tensors into `model`; adapt the head when the labels differ."""
    from automl.engine.models.package import read_model_record

    record = read_model_record(folder / "model.pt")
    if record["model_name"] != model_name:
        raise TrialError(
            f"{where} holds a {record['model_name']} model, but this trial trains {model_name}",
            hint=f"set model_name: {record['model_name']}, or drop the checkpoint",
        )
    own = model.state_dict()
    state = dict(record["state_dict"])
    old_labels = list(record.get("labels") or [])
    if labels is not None and old_labels and list(labels) != old_labels:
        state = adapt_head(state, own, old_labels, list(labels))
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    logger.info(
        "%s: initial weights from %s (%d of %d tensors)", where, folder, len(usable), len(own)
    )


def head_keys(state: dict, n_classes: int) -> list[str]:
    """The classifier head: the last module's tensors whose first dimension is the class
    count (torchvision `fc`, `classifier.1`, timm `head`, our `fc`)."""
    if not state:
        return []
    last = next(reversed(state))
    prefix = last.rsplit(".", 1)[0] + "."
    return [
        k for k, v in state.items() if k.startswith(prefix) and v.ndim and v.shape[0] == n_classes
    ]


def adapt_head(state: dict, own: dict, old_labels: list[str], new_labels: list[str]) -> dict:
    """Head rows mapped by class name; a notice lists kept, new and dropped classes."""
    state = dict(state)
    old_index = {name: i for i, name in enumerate(old_labels)}
    kept = [(i, old_index[name]) for i, name in enumerate(new_labels) if name in old_index]
    for key in head_keys(state, len(old_labels)):
        if key not in own or own[key].shape[1:] != state[key].shape[1:]:
            continue
        rows = own[key].clone()
        for new_i, old_i in kept:
            rows[new_i] = state[key][old_i]
        state[key] = rows
    added = [n for n in new_labels if n not in old_index]
    dropped = [n for n in old_labels if n not in set(new_labels)]
    logger.warning(
        "the class list changed since the checkpoint (%d -> %d classes): the head keeps the "
        "weights of %d shared classes; new, untrained: %s; dropped: %s",
        len(old_labels),
        len(new_labels),
        len(kept),
        ", ".join(added) or "none",
        ", ".join(dropped) or "none",
    )
    return state
