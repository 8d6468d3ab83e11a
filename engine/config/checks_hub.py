"""Rules of Transformers hub ids (`model_name: org/name`) the JSON Schema cannot say.

The schema takes any id matching `$defs/hub_model_id`; here: the `transformers` extra must
be installed, an id outside the curated list gets a warning, and with downloads off
(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE) an id whose files are not in the Hugging Face
cache is an error now rather than a failed trial later. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator

from automl import schemas
from automl.engine.config.context import CheckContext, is_distribution, subspace_models
from automl.engine.config.issues import Issue, warning
from automl.engine.utils import hf_hub


def job_models(ctx: CheckContext) -> Iterator[tuple[tuple, str]]:
    """(path, model name) of every model the job's trials can train."""
    if "model_name" in ctx.training_parameters and not ctx.search_space:
        yield ("training_parameters", "model_name"), ctx.training_parameters["model_name"]
    for index, sub in enumerate(ctx.search_space):
        for model in subspace_models(ctx, sub):
            yield ("search_space", index, "model_name"), model


def pretrained_of(ctx: CheckContext, path: tuple) -> bool:
    """Whether trials at `path` may load pretrained weights (false only when set so)."""
    values = [ctx.training_parameters.get("pretrained", True)]
    if path[0] == "search_space":
        value = ctx.search_space[path[1]].get("pretrained", values[0])
        values = value.get("values", [True]) if is_distribution(value) else [value]
    return any(v is not False for v in values)


def check_hub_models(ctx: CheckContext) -> Iterator[Issue]:
    seen: set[tuple[tuple, str]] = set()
    for path, model in job_models(ctx):
        if not schemas.is_hub_id(model) or (path, model) in seen:
            continue
        seen.add((path, model))
        yield from _hub_model_issues(ctx, path, model)


def _hub_model_issues(ctx: CheckContext, path: tuple, model: str) -> Iterator[Issue]:
    if not hf_hub.transformers_installed():
        yield Issue(
            path,
            f"{model!r} is a Transformers hub id and the Transformers library is not "
            f"installed; run `{hf_hub.INSTALL_HINT}`",
        )
        return
    if model not in schemas.model_names(ctx.task):
        curated = ", ".join(schemas.curated_hub_ids(ctx.task))
        yield warning(
            path,
            f"{model!r} is not one of the curated Transformers ids ({curated}); accepted "
            "as an image-classification model of transformers (checked when it is built)",
        )
    problem = hf_hub.offline_problem(model, pretrained_of(ctx, path))
    if problem:
        yield Issue(
            path,
            f"{problem}; run `automl weights fetch {model}` on a machine with network "
            "access and copy the Hugging Face cache (HF_HOME) here",
        )
