"""What every command promises a shell (README, Commands): data on stdout, logs on stderr,
`-o json` parseable with nothing else on stdout, exit codes 0/1/2; and the README's command
table names only options the commands have."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTOML = str(Path(sys.executable).with_name("automl"))
DEMO_JOB = REPO_ROOT / "examples" / "jobs" / "demo_classification.yml"
FLOWERS_TRAIN = REPO_ROOT / "examples" / "data" / "flowers5" / "train"

JSON_COMMANDS = {
    "schema show": ["schema", "show", "--task", "image_classification", "-o", "json"],
    "schema show --path": ["schema", "show", "--path", "-o", "json"],
    "model list": ["model", "list", "-o", "json"],
    "job list": ["job", "list", "-o", "json"],
    "job validate": ["job", "validate", "-f", DEMO_JOB, "--skip-data", "-o", "json"],
    "job render": ["job", "render", "-f", DEMO_JOB, "-o", "json"],
    "data validate": ["data", "validate", "--mltable", FLOWERS_TRAIN, "--task",
                      "image_classification", "-o", "json"],
}  # fmt: skip


def automl(*args, cwd: Path) -> subprocess.CompletedProcess:
    command = [AUTOML, *(str(arg) for arg in args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("name", list(JSON_COMMANDS))
def test_output_json_is_one_json_document_on_stdout(name, tmp_path):
    result = automl(*JSON_COMMANDS[name], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # the whole of stdout: nothing else is on it
    assert "Traceback" not in result.stderr


def test_a_user_error_with_output_json_leaves_stdout_empty(tmp_path):
    result = automl("model", "show", "no-such-model", "-o", "json", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def _readme_command_cells() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `automl")]


def _named_commands(cell: str):
    """(noun verb, options) for each `automl NOUN VERB ...` or bare `VERB ...` in a cell."""
    noun = None
    for snippet in re.findall(r"`([^`]+)`", cell):
        words = snippet.replace("\\|", "|").split()
        if words[0] == "automl":
            noun, words = words[1], words[2:]
        yield f"{noun} {words[0]}", re.findall(r"(--[a-z][a-z-]*)", snippet)


def test_readme_command_table_names_real_options():
    import typer

    from automl.cli.main import app

    root = typer.main.get_command(app)
    cells = _readme_command_cells()
    assert len(cells) >= 15
    for cell in cells:
        for name, options in _named_commands(cell):
            noun, verb = name.split()
            command = root.commands[noun].commands[verb]
            known = {opt for param in command.params for opt in getattr(param, "opts", [])}
            assert set(options) <= known, f"README: `automl {name}`: {set(options) - known}"
