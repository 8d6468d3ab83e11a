"""`automl endpoint ...`: online endpoints from Azure's endpoint files, their traffic and
keys, and `serve` (the process that answers /score for all of an endpoint's deployments).
"""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path

import typer

from automl.cli._common import (
    OUTPUT_OPTION,
    OutputFormat,
    output_option,
    print_json,
    print_table,
)

app = typer.Typer(
    help="Online endpoints (Azure's endpoint files): traffic between deployments, keys, serve.",
    no_args_is_help=True,
)
logger = logging.getLogger("automl.cli.endpoint")

NAME_ARGUMENT = typer.Argument(..., metavar="NAME", help="The endpoint's name.")
FILE_OPTION = typer.Option(..., "--file", "-f", help="An endpoint YAML file (Azure's format).")
LIST_COLUMNS = ("name", "traffic", "mirror", "deployments", "scoring_uri", "updated")


class KeyType(str, Enum):
    primary = "primary"
    secondary = "secondary"


@app.command("create")
def create(
    file: Path = FILE_OPTION,
    name: str | None = typer.Option(None, "--name", "-n", help="Instead of the file's name."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Create an endpoint from its file; its keys: `automl endpoint get-credentials NAME`."""
    from automl.engine.endpoints import create_endpoint

    _report(create_endpoint(file, name=name), output)


@app.command("update")
def update(
    name: str | None = typer.Argument(None, metavar="[NAME]", help="Default: the file's name."),
    file: Path | None = typer.Option(None, "--file", "-f", help="An endpoint YAML file."),
    traffic: str | None = typer.Option(
        None, "--traffic", help='The whole split, e.g. "blue=90 green=10" (sum 100, or 0).'
    ),
    mirror_traffic: str | None = typer.Option(
        None,
        "--mirror-traffic",
        help='Copy a share to one deployment, e.g. "green=10" (<= 50; "green=0" clears it).',
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Change an endpoint's traffic, mirror traffic or file keys (applied while serving).

    A running `automl endpoint serve` follows within half a second, without dropping a
    request."""
    from automl.engine.endpoints import update_endpoint
    from automl.engine.errors import UsageError

    if name is None and file is None:
        raise UsageError("give the endpoint's NAME, or --file")
    if file is None and traffic is None and mirror_traffic is None:
        raise UsageError("nothing to change: give --traffic, --mirror-traffic or --file")
    record = update_endpoint(name, file=file, traffic=traffic, mirror_traffic=mirror_traffic)
    _report(record, output)


@app.command("show")
def show(name: str = NAME_ARGUMENT, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show an endpoint: traffic, mirror, deployments, and its URI while it is served."""
    from automl.engine.endpoints import get_endpoint

    _report(get_endpoint(name), output)


@app.command("list")
def list_endpoints(output: OutputFormat = output_option(table=True)) -> None:
    """List the endpoints."""
    from automl.engine.endpoints import describe_endpoint, list_endpoints

    shown = [describe_endpoint(record) for record in list_endpoints()]
    if output is OutputFormat.json:
        print_json(shown)
        return
    rows = [
        (
            item["name"],
            _pairs(item["traffic"]),
            _pairs(item["mirror_traffic"]),
            ", ".join(item["deployments"]) or None,
            item["scoring_uri"],
            item["updated_at"],
        )
        for item in shown
    ]
    print_table(LIST_COLUMNS, rows, output)


@app.command("delete")
def delete(name: str = NAME_ARGUMENT, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Delete an endpoint and its deployments (a `serve` process of it stops)."""
    from automl.engine.endpoints import delete_endpoint

    record = delete_endpoint(name)
    deleted = {"deleted": record.name, "deployments": record.deployment_names}
    if output is OutputFormat.json:
        print_json(deleted)
        return
    sys.stdout.write(f"deleted endpoint {record.name}")
    names = ", ".join(record.deployment_names)
    sys.stdout.write(f" and its deployments {names}\n" if names else "\n")


@app.command("get-credentials")
def get_credentials(name: str = NAME_ARGUMENT, output: OutputFormat = OUTPUT_OPTION) -> None:
    """The endpoint's keys (send `Authorization: Bearer KEY`), as Azure's get-credentials."""
    from automl.engine.endpoints import credentials, get_endpoint

    keys = credentials(get_endpoint(name))
    if output is OutputFormat.json:
        print_json(keys)
        return
    sys.stdout.write(f"primaryKey    {keys['primaryKey']}\nsecondaryKey  {keys['secondaryKey']}\n")


@app.command("regenerate-keys")
def regenerate_keys(
    name: str = NAME_ARGUMENT,
    key_type: KeyType = typer.Option(KeyType.primary, "--key-type", help="Which key."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """A new primary or secondary key; the other keeps working (rotate one at a time)."""
    from automl.engine.endpoints import credentials, regenerate_key

    keys = credentials(regenerate_key(name, key_type.value))
    if output is OutputFormat.json:
        print_json(keys)
        return
    sys.stdout.write(f"new {key_type.value} key: {keys[f'{key_type.value}Key']}\n")


@app.command("serve")
def serve(
    name: str = NAME_ARGUMENT,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(5001, "--port", help="TCP port (0: a free one; see `show`)."),
    device: str = typer.Option("auto", "--device", help="auto (GPUs when present), cpu, cuda."),
    gpus: str | None = typer.Option(
        None, "--gpus", help="GPUs the workers share, e.g. 0,1 (default: every visible GPU)."
    ),
    max_batch_size: int = typer.Option(
        16, "--max-batch-size", help="Most images a worker scores together.", min=1
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Serve the endpoint: POST /score routed to its deployments' worker processes.

    GET /health: the router is up (with each deployment's workers); GET /ready: every
    deployment with traffic has a ready worker. Runs until Ctrl-C or SIGTERM (or the
    endpoint is deleted), following every change of the endpoint."""
    from automl.engine.endpoints import serve_endpoint

    def listening(url: str) -> None:
        if output is OutputFormat.json:  # one line: a script reads it while the server runs
            sys.stdout.write(json.dumps({"endpoint": name, "scoring_uri": f"{url}/score"}) + "\n")
            sys.stdout.flush()
        else:
            sys.stderr.write(f"serving endpoint {name} on {url}/score\n")
            sys.stderr.flush()

    serve_endpoint(
        name,
        host=host,
        port=port,
        device=device,
        gpus=[g.strip() for g in gpus.split(",") if g.strip()] if gpus is not None else None,
        max_batch_size=max_batch_size,
        log_level="debug" if logger.isEnabledFor(logging.DEBUG) else "warning",
        on_listening=listening,
    )


def _report(record, output: OutputFormat) -> None:
    from automl.engine.endpoints import describe_endpoint

    shown = describe_endpoint(record)
    if output is OutputFormat.json:
        print_json(shown)
        return
    rows = [
        ("name", shown["name"]),
        ("auth_mode", f"key (keys: automl endpoint get-credentials {shown['name']})"),
        ("traffic", _pairs(shown["traffic"]) or "-"),
        ("mirror_traffic", _pairs(shown["mirror_traffic"]) or "-"),
        ("deployments", ", ".join(shown["deployments"]) or "-"),
        ("scoring_uri", shown["scoring_uri"] or "- (not served: automl endpoint serve NAME)"),
        ("description", shown["description"] or "-"),
        ("updated", shown["updated_at"]),
    ]
    for key, value in rows:
        sys.stdout.write(f"{key:<15} {value}\n")


def _pairs(mapping: dict) -> str:
    return " ".join(f"{name}={percent}" for name, percent in mapping.items())
