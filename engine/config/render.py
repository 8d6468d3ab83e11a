"""The resolved job as YAML (`automl job render`, and `job.resolved.yml` in run directories).

The output is itself a valid job file: paths are absolute, `advanced_settings` stays a JSON
string, and keys a sweep resolves per trial are named in a comment instead of being shown
with a value no trial would use.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

if TYPE_CHECKING:
    from automl.engine.config.resolve import Job


def render_job_yaml(job: Job) -> str:
    """The header comments plus `job.resolved` as block YAML (key order of the schema)."""
    lines = [f"# {job.path}, resolved by automl-vision: every key with its effective value."]
    lines.append(f"# mode: {job.mode}")
    if job.overrides:
        lines.append("# overrides: " + " ".join(f"--set {o}" for o in job.overrides))
    if job.per_trial_keys:
        lines.append(
            "# per trial (the default depends on the model a trial picks): "
            + ", ".join(job.per_trial_keys)
        )
    if job.mode == "automode" and "model_name" not in job.user_training_parameters:
        lines.append(
            "# AutoMode may also try other models; each trial uses its model's own defaults."
        )
    return "\n".join(lines) + "\n" + dump_yaml(job.resolved)


def dump_yaml(data: dict) -> str:
    """Block-style YAML keeping key order, with explicit `null`s."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold long strings such as absolute paths
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None),
        lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
    )
    stream = io.StringIO()
    yaml.dump(_flow_scalar_lists(data), stream)
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
