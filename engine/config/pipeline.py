"""Azure pipeline job files (`type: pipeline`): the one automl node they hold is the job.

Azure's examples wrap an automl image job in a pipeline: `jobs:` holds the automl node
(its data given as `${{parent.inputs.NAME}}`) and often a command node that registers or
deploys the model. Locally there is nothing to chain, so a pipeline with exactly one automl
node runs that node: its `${{parent.inputs.NAME}}` references take the pipeline's inputs,
and it inherits the pipeline's name, experiment_name, display_name, description and tags
when it lacks them (`settings:`, such as the default compute, means nothing locally). Other
nodes are not run (a notice names them). A pipeline with no automl node, or several, is
refused with what to do instead.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from automl.engine.config.issues import Issue, PathT, format_path, warning
from automl.engine.errors import ConfigError
from automl.engine.utils.quoting import quote
from automl.engine.utils.yaml_load import YamlData

INHERITED_KEYS = ("name", "experiment_name", "display_name", "description", "tags")
_PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z0-9_.-]+)\s*\}\}$")
RUN_ONE_NODE = (
    "to run one automl node, copy its keys to a job file of their own (type: automl at the "
    "top level) and write each ${{parent.inputs.NAME}} as the input it names "
    "({type: mltable, path: ...})"
)


@dataclass
class JobSource:
    """The job part of a file: its data, the lines of its keys and where it sits."""

    source: YamlData
    prefix: PathT = ()
    issues: list[Issue] = field(default_factory=list)

    @property
    def data(self) -> dict:
        return self.source.data


def job_source(file: YamlData, label: str) -> JobSource:
    """The job of a file: the file itself, or the single automl node of a pipeline."""
    if not isinstance(file.data, dict) or file.data.get("type") != "pipeline":
        return JobSource(file)
    name = _automl_node(file, label)
    prefix = ("jobs", name)
    node = copy.deepcopy(file.data["jobs"][name])
    lines = {path[2:]: line for path, line in file.lines.items() if path[:2] == prefix}
    _inherit(node, lines, file)
    for where, reference in _references(node):
        _resolve(node, lines, file, label, prefix + where, reference)
    notice = _notice(file, name, label)
    return JobSource(YamlData(node, lines), prefix, [notice])


def _automl_node(file: YamlData, label: str) -> str:
    jobs = file.data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        _fail(file, ("jobs",), label, "a pipeline needs jobs: with one automl node")
    automl = [name for name, node in jobs.items() if _node_type(node) == "automl"]
    if len(automl) == 1:
        return automl[0]
    nodes = ", ".join(f"{name} ({_node_type(node)})" for name, node in jobs.items())
    if not automl:
        message = f"this pipeline has no automl node (jobs: {nodes}); automl-vision runs "
        message += "automl image jobs only: write one as a job file with type: automl"
    else:
        message = f"this pipeline has {len(automl)} automl nodes ({', '.join(automl)}); "
        message += f"pipelines run one automl node here: {RUN_ONE_NODE}"
    _fail(file, ("jobs",), label, message)
    raise AssertionError("unreachable")  # _fail raises


def _node_type(node: Any) -> str:
    return str(node.get("type", "command")) if isinstance(node, dict) else "invalid"


def _inherit(node: dict, lines: dict, file: YamlData) -> None:
    for key in INHERITED_KEYS:
        if key in file.data and key not in node:
            node[key] = copy.deepcopy(file.data[key])
            lines[(key,)] = file.line_of((key,))


def _references(node: Any, path: PathT = ()) -> list[tuple[PathT, str]]:
    """(path, text) of every string in `node` that holds a `${{...}}` expression."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return [(path, node)] if isinstance(node, str) and "${{" in node else []
    return [found for key, value in items for found in _references(value, path + (key,))]


def _resolve(node: dict, lines: dict, file: YamlData, label: str, where: PathT, text: str) -> None:
    """Replace one `${{parent.inputs.NAME}}` in `node` by the input it names."""
    match = _PARENT_INPUT.match(text.strip())
    if match is None:
        _fail(
            file,
            where,
            label,
            f"{quote(text)}: only a whole ${{{{parent.inputs.NAME}}}} is resolved here "
            "(outputs of other nodes do not exist locally); write the value itself",
        )
    inputs = file.data.get("inputs")
    name = match.group(1)
    if not isinstance(inputs, dict) or name not in inputs:
        known = ", ".join(inputs) if isinstance(inputs, dict) and inputs else "none"
        message = f"refers to the pipeline input {quote(name)}, which inputs: does not define "
        _fail(file, where, label, message + f"(inputs: {known})")
    relative = where[2:]
    _set(node, relative, copy.deepcopy(inputs[name]))
    for path, line in file.lines.items():
        if path[:2] == ("inputs", name) and len(path) > 2:
            lines[relative + path[2:]] = line


def _set(node: Any, path: PathT, value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _notice(file: YamlData, name: str, label: str) -> Issue:
    others = [f"{key} ({_node_type(node)})" for key, node in file.data["jobs"].items()]
    others = [text for text in others if not text.startswith(f"{name} (")]
    message = f"running the automl node {quote(name)} of this pipeline"
    if others:
        message += f"; its other nodes are not run here: {', '.join(others)}"
    notice = warning(("jobs", name), message)
    location = f"{label}:{file.line_of(('jobs', name))}"
    return Issue(notice.path, notice.message, notice.level, location)


def _fail(file: YamlData, where: PathT, label: str, message: str) -> None:
    line = f"{label}:{file.line_of(where)}: {format_path(where)}: {message}"
    raise ConfigError(line, issues=[line])
