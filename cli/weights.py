"""`automl weights ...`: pre-fetch pretrained weights into the libraries' caches."""

from __future__ import annotations

import typer

from automl.cli._common import (
    OUTPUT_OPTION,
    OutputFormat,
    out_console,
    output_option,
    print_json,
    print_table,
)

app = typer.Typer(help="Manage pretrained weights.", no_args_is_help=True)


def weights_rows(names: list[str] | None = None) -> list[dict]:
    """One row per model: source, weights id, cache folder, cached file (or null)."""
    from automl.engine.models import MODELS, cache_location, cached_weights_file, get_model_spec

    rows = []
    for name in names or list(MODELS):
        spec = get_model_spec(name)
        cached = cached_weights_file(spec)
        rows.append(
            {
                "model": name,
                "source": spec.source,
                "weights": spec.weights_id,
                "cache": str(cache_location(spec)) if spec.has_pretrained else None,
                "cached_file": str(cached) if cached else None,
            }
        )
    return rows


@app.command("list")
def list_weights(output: OutputFormat = output_option(table=True)) -> None:
    """List models, where their weights come from, and whether they are cached here."""
    rows = weights_rows()
    if output == OutputFormat.json:
        print_json(rows)
        return
    print_table(("model", "source", "weights", "cached"), [_list_row(row) for row in rows], output)


def _list_row(row: dict) -> tuple:
    cached = "yes" if row["cached_file"] else ("-" if row["weights"] is None else "no")
    return row["model"], row["source"], row["weights"] or "(none)", cached


@app.command("fetch")
def fetch(
    names: list[str] = typer.Argument(..., help="Model names, e.g. resnet50 vitb16r224."),
    model_size: str | None = typer.Option(
        None, "--model-size", help="YOLO models: small, medium (default), large or extra_large."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Download pretrained weights into the library caches (TORCH_HOME, HF_HOME)."""
    from automl.engine.models import fetch_weights, get_model_spec

    specs = [get_model_spec(name) for name in names]  # unknown names fail before downloading
    fetched = [{"model": spec.name, "file": str(fetch_weights(spec, model_size))} for spec in specs]
    if output == OutputFormat.json:
        print_json(fetched)
        return
    for row in fetched:
        out_console().print(f"{row['model']}: {row['file']}")
