"""`automl data ...`: check datasets and convert other annotation formats."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from automl.cli._common import (
    OUTPUT_OPTION,
    SET_OPTION,
    OutputFormat,
    out_console,
    output_option,
    print_json,
)

app = typer.Typer(help="Validate datasets and convert annotation formats.", no_args_is_help=True)

MAX_CLASSES_SHOWN = 25


class SourceFormat(str, Enum):
    coco = "coco"
    voc = "voc"
    yolo = "yolo"
    folder = "folder"
    csv = "csv"


@app.command("validate")
def validate(
    file: Path | None = typer.Option(None, "--file", "-f", help="A job YAML: check its data."),
    mltable: Path | None = typer.Option(
        None,
        "--mltable",
        help="An MLTable folder or file, a JSONL file, or a folder with "
        "train/ and valid/ MLTable folders.",
    ),
    task: str | None = typer.Option(None, "--task", help="The task (with --mltable)."),
    target_column_name: str = typer.Option("label", "--target-column-name"),
    overrides: list[str] | None = SET_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Run the dataset doctor: images, classes, boxes, sizes, and every problem found."""
    from automl.engine.errors import DataError, UsageError

    if (file is None) == (mltable is None):
        raise UsageError("give exactly one of --file JOB.yml or --mltable PATH --task TASK")
    if mltable is not None and not task:
        raise UsageError("--mltable needs --task (e.g. --task image_object_detection)")
    report = (
        _job_report(file, overrides or [])
        if file
        else _mltable_report(mltable, task, target_column_name)
    )
    if output == OutputFormat.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if report.problems:
        raise DataError(f"{len(report.problems)} data problems found (listed on stdout)")


def _job_report(file: Path, overrides: list[str]):
    from automl.engine.config import load_job
    from automl.engine.data import check_job_data

    job = load_job(file, overrides)
    return check_job_data(job.resolved, job_file=str(job.path))


def _mltable_report(path: Path, task: str, target_column_name: str):
    from automl.engine.data import check_dataset
    from automl.engine.data.tasks import check_task

    return check_dataset(path, check_task(task), target_column_name)


def _print_report(report) -> None:
    from rich.table import Table

    console = out_console()
    summary = report.summary or {}
    if summary.get("task"):
        split = summary.get("split")
        console.print(
            f"[bold]task[/bold] {summary['task']}" + (f"  (split: {split})" if split else "")
        )
    for side in ("train", "valid"):
        if summary.get(side):
            console.print(_side_table(side, summary[side], Table))
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", markup=True, highlight=False)
    for problem in report.problems:
        console.print(f"[red]problem[/red] {_escape(problem)}")
    problems = _count(len(report.problems), "problem")
    verdict = "[green]ok[/green]" if report.ok else f"[red]{problems}[/red]"
    console.print(f"{verdict}, {_count(len(report.warnings), 'warning')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _span(spread: dict, mean: bool = False) -> str:
    """'32 - 640' (or '0 - 3 (mean 1.2)'); '-' when no image could be read."""
    if spread.get("min") is None:
        return "- (no usable image)"
    text = f"{spread['min']} - {spread['max']}"
    return f"{text} (mean {spread['mean']})" if mean else text


def _side_table(side: str, stats: dict, table_type):
    table = table_type(title=f"{side}: {stats['images']} images", title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    size = stats.get("image_size", {})
    table.add_row("image width", _span(size.get("width", {})))
    table.add_row("image height", _span(size.get("height", {})))
    if "objects" in stats:
        table.add_row("objects", f"{stats['objects']} ({stats['crowd_objects']} crowd)")
        table.add_row("objects per image", _span(stats["boxes_per_image"], mean=True))
    if stats.get("n_dropped"):
        table.add_row("dropped lines", str(stats["n_dropped"]))
    classes = stats.get("classes", {})
    shown = sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CLASSES_SHOWN]
    more = f", ... {len(classes) - len(shown)} more" if len(classes) > len(shown) else ""
    table.add_row(f"classes ({len(classes)})", ", ".join(f"{k} {v}" for k, v in shown) + more)
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command("convert")
def convert(
    source_format: SourceFormat = typer.Option(..., "--from", help="The input format."),
    source: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="COCO JSON, VOC XML folder, YOLO labels folder, class-folder "
        "root, or filename,labels CSV.",
    ),
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-d", help="Folder to write JSONL + MLTable into."
    ),
    task: str | None = typer.Option(None, "--task", help="Task to convert for (format default)."),
    images: Path | None = typer.Option(None, "--images", help="Folder holding the images."),
    names: Path | None = typer.Option(None, "--names", help="YOLO class names (yaml or txt)."),
    separator: str | None = typer.Option(None, "--separator", help="CSV label separator."),
    masks: Path | None = typer.Option(
        None,
        "--masks",
        help="VOC instance segmentation: the SegmentationObject folder of object mask PNGs "
        "(default: found beside the annotations).",
    ),
    validation_size: float | None = typer.Option(
        None, "--validation-size", help="Also split into train/ and valid/ (e.g. 0.2)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/validation split."),
    base_url: str | None = typer.Option(None, "--base-url", help="Prefix for image_url."),
    output: OutputFormat = output_option("--output-dir"),
    as_json: bool = typer.Option(False, "--json", hidden=True, help="Same as -o json."),
) -> None:
    """Convert COCO, VOC, YOLO, class folders or CSV into Azure JSONL + MLTable."""
    from automl.engine.data.converters import ConvertOptions, convert_dataset
    from automl.engine.data.tasks import check_task

    options = ConvertOptions(images=images, names=names, separator=separator, masks=masks)
    summary = convert_dataset(
        source_format.value,
        source,
        output_dir,
        task=check_task(task) if task else None,
        options=options,
        validation_size=validation_size,
        seed=seed,
        base_url=base_url,
    )
    if as_json or output is OutputFormat.json:
        print_json(summary.to_dict())
        return
    console = out_console()
    objects = f", {summary.n_objects} objects" if summary.n_objects else ""
    console.print(
        f"{summary.task}: {summary.n_images} images{objects}, {len(summary.classes)} classes"
    )
    for folder in summary.outputs:
        console.print(f"wrote {folder}/annotations.jsonl and {folder}/MLTable", markup=False)
    for warning in summary.warnings:
        console.print(f"warning: {warning}", markup=False)
