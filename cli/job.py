"""`automl job ...`: validate, render, create, and follow jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from automl.cli._common import (
    OUTPUT_OPTION,
    SET_OPTION,
    OutputFormat,
    out_console,
    output_option,
    print_json,
    print_table,
)
from automl.cli._plan import calibration_option, format_plan
from automl.cli._progress import JobProgress, format_params

app = typer.Typer(help="Validate, render and run AutoML image jobs.", no_args_is_help=True)

FILE_OPTION = typer.Option(..., "--file", "-f", help="The job YAML file.")


# --- validate and render -------------------------------------------------------------------


@app.command("validate")
def validate_command(
    file: Path = FILE_OPTION,
    overrides: list[str] | None = SET_OPTION,
    skip_data: bool = typer.Option(
        False,
        "--skip-data",
        help="Check the job file only: not its images and labels, nor that its data folders exist.",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Check a job file (schema, cross-field rules) and its data (exit 0 valid, 1 not)."""
    from automl.engine.config import load_job
    from automl.engine.errors import ConfigError

    try:
        job = load_job(file, overrides or (), check_paths=not skip_data)
    except ConfigError as exc:
        _report_invalid(file, exc, output)
        return 1
    job.warnings += _weights_warnings(job)
    report = None if skip_data else _check_data(job)
    _report_valid(file, job, output, report)
    return 0 if report is None or report.ok else 1


def _weights_warnings(job) -> list[str]:
    """Pretrained weights the job needs that are not cached (with the command to fetch them)."""
    from automl.engine.runs import weights_warnings

    return weights_warnings(job)


def _check_data(job):
    """The dataset doctor on the job's data (load_job checked that its paths exist)."""
    from automl.engine.data import check_job_data

    return check_job_data(job.resolved, job_file=str(job.path))


def _report_invalid(file: Path, exc, output: OutputFormat) -> None:
    errors = exc.issues or [exc.message]
    if output is OutputFormat.json:
        print_json(
            {
                "file": str(file),
                "valid": False,
                "errors": errors,
                "warnings": [],
                "mode": None,
                "task": None,
            }
        )
        return
    for line in errors:
        sys.stdout.write(f"{line}\n")
    n_problems = getattr(exc, "n_problems", len(errors))  # the listed ones may be fewer
    noun = "problem" if n_problems == 1 else "problems"
    sys.stderr.write(f"error: {file} is not a valid job ({n_problems:,} {noun})\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")


def _report_valid(file: Path, job, output: OutputFormat, report=None) -> None:
    data_ok = report is None or report.ok
    problems = list(report.problems) if report is not None else []
    warnings = job.warnings + (list(report.warnings) if report is not None else [])
    if output is OutputFormat.json:
        print_json(
            {
                "file": str(file),
                "valid": data_ok,
                "errors": problems,
                "warnings": warnings,
                "mode": job.mode,
                "task": job.task,
                "data": report.to_dict() if report is not None else None,
            }
        )
        return
    for line in warnings:
        sys.stdout.write(f"warning: {line}\n")
    for line in problems:
        sys.stdout.write(f"{line}\n")
    if not data_ok:
        sys.stderr.write(f"error: {file}: the job's data has {len(problems)} problem(s)\n")
        return
    checked = "" if report is None else ", data checked"
    sys.stdout.write(f"{file}: valid {job.task} job, mode {job.mode}{checked}\n")


@app.command("render")
def render_command(
    file: Path = FILE_OPTION,
    overrides: list[str] | None = SET_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Print the job with every default filled in (YAML; --output json for JSON).

    Needs only the job file: its data is neither read nor looked for.
    """
    import logging

    from automl.engine.config import load_job, render_job_yaml, rendered_job

    job = load_job(file, overrides or (), check_paths=False)
    log = logging.getLogger("automl.cli.job")
    for line in job.warnings:
        log.warning(line)
    if output is OutputFormat.json:
        print_json(rendered_job(job))
    else:
        sys.stdout.write(render_job_yaml(job))


# --- planning -------------------------------------------------------------------------------


@app.command("plan")
def plan_command(
    file: Path = FILE_OPTION,
    overrides: list[str] | None = SET_OPTION,
    price: float | None = typer.Option(
        None, "--price-per-gpu-hour", help="Price of one GPU-hour: the plan adds the cost."
    ),
    calibration_seconds: float | None = calibration_option(),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Estimate a job's time and GPU-hours before running it: a few batches of each of its
    models are timed here, on the device the job would use (the timings are kept in
    $AUTOML_HOME: job create then writes the run's plan.json from them)."""
    from automl.engine.plan import plan_job

    plan = plan_job(
        file, overrides or (), price_per_gpu_hour=price, calibration_seconds=calibration_seconds
    )
    if output is OutputFormat.json:
        print_json(plan)
        return
    sys.stdout.write(format_plan(plan))


# --- running and following jobs ------------------------------------------------------------

RUNS_ROOT_OPTION = typer.Option(
    Path("runs"),
    "--runs-root",
    help="Folder of new run directories (default ./runs); job names are also looked up "
    "there for runs made before the index of runs ($AUTOML_HOME/runs.db).",
)


def _parse_gpus(gpus: str | None) -> list[int] | None:
    from automl.engine.errors import UsageError

    if gpus is None:
        return None
    try:
        return [int(part) for part in gpus.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--gpus {gpus!r}: expected GPU indices like 0,1") from None


@app.command("create")
def create(
    file: Path = typer.Option(..., "--file", "-f", help="The job YAML file."),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Run name; an error if a run has it (default: the file's 'name' while no run "
        "has it, else that name or the file's stem with the time and a random suffix).",
    ),
    run_dir: Path | None = typer.Option(
        None,
        "--run-dir",
        help="Run directory (default: <runs-root>/[<experiment_name>/]<name>).",
    ),
    runs_root: Path = RUNS_ROOT_OPTION,
    overrides: list[str] | None = SET_OPTION,
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: a journal file in the run directory)."
    ),
    gpus: str | None = typer.Option(
        None, "--gpus", help="GPU indices to use, e.g. 0,1 (default: all visible)."
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="Log the job to this MLflow store ('local': sqlite under $AUTOML_HOME; "
        "default: $MLFLOW_TRACKING_URI, else no tracking).",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Run a job: validate, prepare data, run its trials, keep the best model."""
    from automl.engine.runs import submit_job

    with JobProgress() as progress:
        summary = submit_job(
            file,
            overrides or [],
            name=name,
            run_dir=run_dir,
            runs_root=runs_root,
            storage_url=storage,
            gpus=_parse_gpus(gpus),
            on_event=progress,
            tracking_uri=tracking_uri,
        )
    return _report_finished(summary, output)


@app.command("resume")
def resume(
    job: str = typer.Argument(..., help="Job name or run directory."),
    runs_root: Path = RUNS_ROOT_OPTION,
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL, when the job was created with one."
    ),
    gpus: str | None = typer.Option(None, "--gpus", help="GPU indices to use."),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="Log the job to this MLflow store ('local': sqlite under $AUTOML_HOME; "
        "default: $MLFLOW_TRACKING_URI, else no tracking).",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Continue a killed or canceled job; finished trials are kept, never rerun."""
    from automl.engine.runs import resume_job

    with JobProgress() as progress:
        summary = resume_job(
            job,
            runs_root=runs_root,
            storage_url=storage,
            gpus=_parse_gpus(gpus),
            on_event=progress,
            tracking_uri=tracking_uri,
        )
    return _report_finished(summary, output)


@app.command("worker")
def worker(
    job: str = typer.Argument(..., help="Name of the job to join (created with --storage)."),
    storage: str = typer.Option(
        ..., "--storage", help="The job's Optuna storage URL, e.g. postgresql://host/db."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="The job's shared run directory, if mounted elsewhere here."
    ),
    gpus: str | None = typer.Option(
        None, "--gpus", help="GPU indices to use, e.g. 0,1 (default: all visible)."
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="Log the job to this MLflow store ('local': sqlite under $AUTOML_HOME; "
        "default: $MLFLOW_TRACKING_URI, else no tracking).",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Join a job from this machine and run its trials until the job's limits are reached."""
    from automl.engine.sweep.worker import run_worker

    with JobProgress() as progress:
        summary = run_worker(
            job,
            storage,
            run_dir=run_dir,
            gpus=_parse_gpus(gpus),
            on_event=progress,
            tracking_uri=tracking_uri,
        )
    if summary.get("status") == "running":  # other workers still run the last trials
        if output is OutputFormat.json:
            print_json(summary)
        else:
            _print_summary(summary)
        return 0
    return _report_finished(summary, output)


@app.command("show")
def show(
    job: str = typer.Argument(..., help="Job name or run directory."),
    runs_root: Path = RUNS_ROOT_OPTION,
    storage: str | None = typer.Option(
        None, "--storage", help="Read the job from this storage URL (works on any machine)."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a job's status, best result and every trial (state, params, score, epochs,
    duration; * marks the best)."""
    from automl.engine.runs import find_run_dir, read_summary

    if storage:
        from automl.engine.sweep.worker import study_summary

        summary = study_summary(job, storage)
    else:
        summary = read_summary(find_run_dir(job, runs_root))
    summary = _mark_best(summary)
    if output is OutputFormat.json:
        print_json(summary)
        return
    _print_summary(summary)
    if summary.get("trials"):
        sys.stdout.write("\n")
        print_table(*_trials_table(summary))


def _mark_best(summary: dict) -> dict:
    """The summary with `best: true|false` on each trial."""
    best = (summary.get("best_trial") or {}).get("number")
    trials = [{**trial, "best": trial.get("number") == best} for trial in summary.get("trials", [])]
    return {**summary, "trials": trials}


def _trials_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a job's trials, as `automl job show` prints them."""
    metric = (summary.get("primary_metric") or {}).get("name", "score")
    header = ["trial", "state", metric, "epochs", "duration", "best", "params"]
    rows = []
    for trial in summary.get("trials", []):
        duration = trial.get("duration_s")
        rows.append(
            [
                str(trial.get("number")),
                str(trial.get("state")),
                _score(trial.get("score")),
                str(trial.get("epochs_completed", 0)),
                "-" if duration is None else f"{duration:.1f}s",
                "*" if trial.get("best") else "",
                _params(trial.get("params")),
            ]
        )
    return header, rows


def _params(params: dict | None) -> str:
    return format_params(params, limit=len(params)) if params else "-"


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.4f}"


@app.command("list")
def list_jobs(
    runs_root: Path = RUNS_ROOT_OPTION,
    experiment: str | None = typer.Option(
        None, "--experiment", help="Only the runs of this experiment_name."
    ),
    output: OutputFormat = output_option(table=True),
) -> None:
    """List jobs (every run in the index of runs, from any folder), newest first, with
    status and best score."""
    from automl.engine.runs import list_runs

    runs = list_runs(runs_root, experiment=experiment)
    if output is OutputFormat.json:
        print_json(runs)
        return
    print_table(*_runs_table(runs), output)


def _runs_table(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of `automl job list`."""
    header = ["name", "experiment", "status", "trials", "best", "metric", "task", "started"]
    header.append("run directory")
    rows = [
        [
            run["name"],
            run.get("experiment") or "-",
            str(run["status"]),
            str(run["n_trials"]),
            _score(run["best_score"]),
            run.get("primary_metric") or "-",
            str(run["task"]),
            str(run["started_at"] or "-"),
            run["run_dir"],
        ]
        for run in runs
    ]
    return header, rows


@app.command("cancel")
def cancel(
    job: str = typer.Argument(..., help="Job name or run directory."),
    runs_root: Path = RUNS_ROOT_OPTION,
) -> None:
    """Stop a running job from another shell (its finished trials are kept)."""
    from automl.engine.runs import cancel_run, find_run_dir

    run_dir = find_run_dir(job, runs_root)
    stopped = cancel_run(run_dir)
    typer.echo(f"job {run_dir.name}: " + ("canceled" if stopped else "cancel requested"))


def _report_finished(summary: dict, output: OutputFormat) -> int:
    if output is OutputFormat.json:
        print_json(summary)
    else:
        _print_summary(summary)
    if summary.get("status") != "completed":
        _print_failures(summary)
        return 1
    return 0


def _print_summary(summary: dict) -> None:
    console = out_console()
    best = summary.get("best_trial") or {}
    metric = (summary.get("primary_metric") or {}).get("name", "score")
    trials = summary.get("trials", [])
    console.print(f"job {summary.get('name')} {summary.get('status')}: {len(trials)} trial(s)")
    if best:
        console.print(f"  best trial      {best.get('number')}")
        console.print(
            f"  {metric:<15} {best.get('score'):.4f}"
            if best.get("score") is not None
            else f"  {metric:<15} -"
        )
        params = best.get("params") or {}
        if params:
            console.print(f"  params          {format_params(params, limit=10)}")
        run_dir = Path(summary.get("run_dir", "."))
        console.print(f"  best model      {run_dir / 'best_model'}")
    console.print(f"  run directory   {summary.get('run_dir')}")


def _print_failures(summary: dict, n_lines: int = 20) -> None:
    """The job's error, and the end of each failed trial's log where it says more than the
    trial's error: the engine has logged every failed trial's error once already (one line
    per finished trial), so a trial that failed with a clear message is not repeated."""
    if summary.get("error"):
        sys.stderr.write(f"error: {summary['error']}\n")
    run_dir = Path(summary.get("run_dir", "."))
    for trial in summary.get("trials", []):
        if trial.get("state") != "failed":
            continue
        log = run_dir / "trials" / str(trial["number"]) / "trial.log"
        tail = _log_tail(log, n_lines)
        if tail and not _says_only(tail, trial.get("error")):
            sys.stderr.write(f"--- last lines of {log} ---\n" + "\n".join(tail) + "\n")


def _log_tail(log: Path, n_lines: int) -> list[str]:
    if not log.is_file():
        return []
    return log.read_text(encoding="utf-8", errors="replace").splitlines()[-n_lines:]


def _says_only(tail: list[str], error: str | None) -> bool:
    """Whether the log ends with the trial's own error (then its tail adds nothing)."""
    first_line = (error or "").splitlines()[0] if error else ""
    return bool(first_line) and any(first_line in line for line in tail[-4:])
