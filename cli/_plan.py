"""How `automl job plan` prints a plan (engine/plan), and its --calibration-seconds flag."""

from __future__ import annotations

import typer


def calibration_option():
    """--calibration-seconds: the limits.json bound plan_calibration_seconds, as a flag."""
    from automl.schemas import limit_spec

    spec = limit_spec("plan_calibration_seconds")
    return typer.Option(
        None,
        spec["flag"],
        help=f"Seconds spent timing batches of the job's models (default {spec['default']}; "
        f"or set {spec['env']}).",
        min=0.001,
    )


def format_plan(plan: dict) -> str:
    """The plan as `automl job plan` prints it."""
    lines = [_plan_headline(plan)]
    for model, cost in plan["models"].items():
        how = "" if cost["calibrated"] else " (estimated, not calibrated)"
        lines.append(f"  {model:<24} {cost['seconds_per_epoch']:.2f} s/epoch{how}")
    low, high = plan["wall_seconds_range"]
    lines.append(
        f"  wall time               {_duration(plan['wall_seconds'])} "
        f"(range {_duration(low)} - {_duration(high)}; "
        f"without early termination {_duration(plan['wall_seconds_without_early_termination'])})"
    )
    lines.append(_hours_line(plan))
    lines += [f"note: {line}" for line in plan["notes"]]
    lines += [f"warning: {line}" for line in plan["warnings"]]
    return "\n".join(lines) + "\n"


def _plan_headline(plan: dict) -> str:
    job = plan["job"]
    return (
        f"{job['name'] or plan.get('file')}: {job['task']}, {job['mode']}, "
        f"{plan['n_trials']} trial(s), "
        f"{plan['max_concurrent_trials']} at a time on {plan['device']} "
        f"(calibrated in {plan['calibration']['seconds']:.1f} s)"
    )


def _hours_line(plan: dict) -> str:
    if plan["device"] != "cuda":
        cost = "" if plan["cost"] is None else ", cost 0.00"
        return f"  CPU-hours               {plan['cpu_hours']:.3f} (no GPU: 0 GPU-hours{cost})"
    cost = "" if plan["cost"] is None else f", cost {plan['cost']:.2f}"
    return f"  GPU-hours               {plan['gpu_hours']:.3f}{cost}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
