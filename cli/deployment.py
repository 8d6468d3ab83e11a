"""`automl deployment ...`: an endpoint's deployments, from Azure's deployment files."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from automl.cli._common import OUTPUT_OPTION, OutputFormat, output_option, print_json, print_table

app = typer.Typer(
    help="Deployments of an endpoint (Azure's deployment files): a model, instances, probes.",
    no_args_is_help=True,
)

FILE_OPTION = typer.Option(..., "--file", "-f", help="A deployment YAML file (Azure's format).")
NAME_ARGUMENT = typer.Argument(..., metavar="NAME", help="The deployment's name.")
ENDPOINT_OPTION = typer.Option(..., "--endpoint-name", "-e", help="The endpoint's name.")
LIST_COLUMNS = ("name", "model", "traffic", "instances", "revision", "updated")


@app.command("create")
def create(
    file: Path = FILE_OPTION,
    name: str | None = typer.Option(None, "--name", "-n", help="Instead of the file's name."),
    endpoint_name: str | None = typer.Option(
        None, "--endpoint-name", "-e", help="Instead of the file's endpoint_name."
    ),
    all_traffic: bool = typer.Option(
        False, "--all-traffic", help="Give it 100 % of the traffic (else it starts at 0 %)."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Add a deployment to its endpoint; `model: azureml:NAME@latest` is resolved now."""
    from automl.engine.endpoints import create_deployment

    record = create_deployment(
        file, name=name, endpoint_name=endpoint_name, all_traffic=all_traffic
    )
    _report(record, output)


@app.command("update")
def update(
    file: Path = FILE_OPTION,
    name: str | None = typer.Option(None, "--name", "-n", help="Instead of the file's name."),
    endpoint_name: str | None = typer.Option(
        None, "--endpoint-name", "-e", help="Instead of the file's endpoint_name."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Replace a deployment from its file: a new model version, instances or probes.

    A serving endpoint starts the new workers and swaps them in once they are ready."""
    from automl.engine.endpoints import create_deployment

    record = create_deployment(file, name=name, endpoint_name=endpoint_name, replace=True)
    _report(record, output)


@app.command("show")
def show(
    name: str = NAME_ARGUMENT,
    endpoint_name: str = ENDPOINT_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a deployment: its file with every default, the model version it serves."""
    from automl.engine.endpoints import get_deployment

    _report(get_deployment(endpoint_name, name), output)


@app.command("list")
def list_deployments(
    endpoint_name: str = ENDPOINT_OPTION, output: OutputFormat = output_option(table=True)
) -> None:
    """List an endpoint's deployments with their traffic."""
    from automl.engine.endpoints import describe_deployment, get_endpoint

    record = get_endpoint(endpoint_name)
    shown = [describe_deployment(d, record.traffic) for d in record.deployments]
    if output is OutputFormat.json:
        print_json(shown)
        return
    rows = [
        (d["name"], _model(d), d["traffic"], d["instance_count"], d["revision"], d["updated_at"])
        for d in shown
    ]
    print_table(LIST_COLUMNS, rows, output)


@app.command("delete")
def delete(
    name: str = NAME_ARGUMENT,
    endpoint_name: str = ENDPOINT_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Delete a deployment; one with traffic is refused (move its traffic first)."""
    from automl.engine.endpoints import delete_deployment

    record = delete_deployment(endpoint_name, name)
    if output is OutputFormat.json:
        print_json({"deleted": record.name, "endpoint_name": record.endpoint})
        return
    sys.stdout.write(f"deleted deployment {record.name} of endpoint {record.endpoint}\n")


def _report(record, output: OutputFormat) -> None:
    from automl.engine.endpoints import describe_deployment, get_endpoint

    shown = describe_deployment(record, get_endpoint(record.endpoint).traffic)
    if output is OutputFormat.json:
        print_json(shown)
        return
    settings = shown["request_settings"]
    rows = [
        ("name", shown["name"]),
        ("endpoint_name", shown["endpoint_name"]),
        ("model", _model(shown)),
        ("traffic", f"{shown['traffic']} %"),
        ("instance_count", shown["instance_count"]),
        ("request_timeout", f"{settings['request_timeout_ms']} ms"),
        ("concurrency", f"{settings['max_concurrent_requests_per_instance']} per instance"),
        ("revision", shown["revision"]),
    ]
    for key, value in rows:
        sys.stdout.write(f"{key:<16} {value}\n")


def _model(shown: dict) -> str:
    return shown["model_ref"] or shown["model_path"]
