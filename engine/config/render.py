"""The resolved job as YAML (`automl job render`, and `job.resolved.yml` in run directories).

The output is itself a valid job file: paths are absolute, `advanced_settings` stays a JSON
string, and keys a sweep resolves per trial are named in a comment instead of being shown
with a value no trial would use. A key searched in only some sub-spaces is shown in each
other sub-space with the value its trials get (`# not searched here`), so every trial's
value of every key can be read off the output.
"""

from __future__ import annotations

import copy
import io
from typing import TYPE_CHECKING

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from automl.engine.config.defaults import subspace_defaults

if TYPE_CHECKING:
    from automl.engine.config.resolve import Job

FILLED_NOTE = "not searched here: the value this sub-space's trials use"


def render_job_yaml(job: Job) -> str:
    """The header comments plus `rendered_job(job)` as block YAML (key order of the schema)."""
    shown, filled, varying = _fill_subspaces(job)
    lines = [f"# {job.path}, resolved by automl-vision: every key with its effective value."]
    lines.append(f"# mode: {job.mode}")
    if job.overrides:
        lines.append("# overrides: " + " ".join(f"--set {o}" for o in job.overrides))
    if job.per_trial_keys:
        lines.append(
            "# per trial (the default depends on the model a trial picks): "
            + ", ".join(job.per_trial_keys)
        )
    for index, keys in varying.items():
        lines.append(
            f"# search_space[{index}], per trial (the default depends on the model a trial "
            f"picks): {', '.join(keys)}"
        )
    if job.mode == "automode" and "model_name" not in job.user_training_parameters:
        lines.append(
            "# AutoMode may also try other models; each trial uses its model's own defaults."
        )
    return "\n".join(lines) + "\n" + dump_yaml(shown, filled)


def rendered_job(job: Job) -> dict:
    """`job.resolved` with every sub-space showing the value its trials use for keys that
    only other sub-spaces search (what `job render --output json` prints)."""
    return _fill_subspaces(job)[0]


def _fill_subspaces(job: Job) -> tuple[dict, set[tuple[int, str]], dict[int, list[str]]]:
    """(the job to show, (sub-space, key) of each value added, model-dependent keys)."""
    shown = copy.deepcopy(job.resolved)
    space = shown.get("search_space") or []
    searched = sorted({key for sub in space for key in sub})
    filled: set[tuple[int, str]] = set()
    varying: dict[int, list[str]] = {}
    for index, sub in enumerate(space):
        values, depends = subspace_defaults(job.task, job.user_training_parameters, sub, searched)
        sub.update(values)
        filled.update((index, key) for key in values)
        if depends:
            varying[index] = depends
    return shown, filled, varying


def dump_yaml(data: dict, filled: set[tuple[int, str]] = frozenset()) -> str:
    """Block-style YAML keeping key order, with explicit `null`s; the sub-space values in
    `filled` get a comment saying they are not searched there."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold long strings such as absolute paths
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None),
        lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
    )
    shown = _flow_scalar_lists(data)
    for index, key in sorted(filled):
        sub = shown["search_space"][index] = CommentedMap(shown["search_space"][index])
        sub.yaml_add_eol_comment(FILLED_NOTE, key)
    stream = io.StringIO()
    yaml.dump(shown, stream)
    return stream.getvalue()


def _flow_scalar_lists(value):
    """Lists of scalars (choice values) print on one line: `values: [resnet18, resnet50]`."""
    if isinstance(value, dict):
        return {key: _flow_scalar_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_flow_scalar_lists(item) for item in value]
        if all(not isinstance(item, (dict, list)) for item in items):
            flow = CommentedSeq(items)
            flow.fa.set_flow_style()
            return flow
        return items
    return value
