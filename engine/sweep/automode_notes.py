"""automode.md: AutoMode's choices with the reason for each, as lines of a job file a user
can copy (a fixed value in `training_parameters`, or the whole space as a manual sweep)."""

from __future__ import annotations

import math

import yaml

from automl.engine.sweep.automode_rules import Choice

HEADER = """# AutoMode's choices

Why each value of the first trials was chosen (automode_rules.py has the rules). Copy a
line into `training_parameters` of the job file to fix that value: AutoMode leaves fixed
keys alone. The `search_space` at the end is what TPE samples after the first trials;
with `sweep: {sampling_algorithm: bayesian}` it makes the same search a manual sweep.
"""


def choices_markdown(portfolio: list[dict], choices: list[list[Choice]], plan: dict) -> str:
    """The whole automode.md: data and hardware, one YAML block per first trial, the space."""
    parts = [HEADER, _context(plan)]
    for index, entry in enumerate(choices):
        parts.append(f"## Trial {index}\n\n```yaml\n{_choice_lines(entry)}```\n")
    then = plan.get("then", {})
    compact = [_compact(subspace) for subspace in then.get("search_space", [])]
    space = yaml.safe_dump({"search_space": compact}, sort_keys=False, default_flow_style=None)
    parts.append(f"## Then: {then.get('n_trials', 0)} trials of TPE\n\n```yaml\n{space}```\n")
    return "\n".join(parts)


def _compact(subspace: dict) -> dict:
    """A one-value choice as its literal (what a job file would say), bounds rounded."""
    compact = {}
    for key, spec in subspace.items():
        if spec["type"] == "choice" and len(spec["values"]) == 1:
            compact[key] = spec["values"][0]
        else:
            compact[key] = {k: round(v, 4) if isinstance(v, float) else v for k, v in spec.items()}
    return compact


def _context(plan: dict) -> str:
    data, hardware, options = plan["data"], plan["hardware"], plan.get("options", {})
    size = f"{data.get('median_width')}x{data.get('median_height')} px (median)"
    budget = options.get("trial_budget_s")
    budget_text = f"{budget:.0f} s per exploring trial" if budget else "no timeout to fit"
    explore = (plan.get("explore") or {}).get("why")
    if explore:
        budget_text += f" ({explore})"
    pretrained = _yaml_value(options.get("pretrained"))
    return (
        f"Data: {data['n_train']} training images, {size}, {data.get('n_classes')} classes. "
        f"Hardware: {hardware['device']}, {hardware.get('n_cpus')} CPUs, "
        f"{hardware.get('n_gpus')} GPUs. Pretrained weights: {pretrained}; "
        f"budget: {budget_text}.\n"
    )


def _choice_lines(entry: list[Choice]) -> str:
    lines = []
    for choice in entry:
        value = yaml.safe_dump({choice.key: choice.value}, default_flow_style=True).strip()[1:-1]
        searched = f" (then searched: {_range(choice.search)})" if choice.search else ""
        lines.append(f"{value}  # {choice.why}{searched}\n")
    return "".join(lines)


def _yaml_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _range(search: dict) -> str:
    if search["type"] == "choice":
        return "choice " + ", ".join(_yaml_value(v) for v in search["values"])
    if search["type"] == "loguniform":
        return f"loguniform {math.exp(search['min_value']):.3g}-{math.exp(search['max_value']):.3g}"
    return f"{search['type']} {search['min_value']}-{search['max_value']}"
