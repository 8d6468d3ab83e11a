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


# Example values for the placeholders of the README's command table (real files where a
# command checks that its path exists).
PLACEHOLDERS = {
    "F": str(DEMO_JOB), "I": str(FLOWERS_TRAIN), "PATH": str(FLOWERS_TRAIN),
    "MLTABLE": str(FLOWERS_TRAIN), "IMAGE": str(next(FLOWERS_TRAIN.rglob("*.jpg"))),
    "DIR": "out", "GLOB": "images/*.jpg", "URL": "postgresql://user@127.0.0.1/automl",
    "N": "flowers", "NAME": "flowers", "REF": "flowers", "JOB": "flowers-job", "X": "exp",
    "T": "image_classification", "K": "0", "V": "1", "B": "8", "H": "example.com",
    "LABEL": "production", "D": "out", "SPLIT": "blue=100",
}  # fmt: skip
OPTION_VALUES = {
    "--max-items": "16", "--opset": "17", "--n-masks": "100", "--mask-res": "16", "--seed": "0",
}  # fmt: skip  # numbers where a letter stands


def _expand(text: str) -> list[str]:
    """Every form a synopsis allows: `[x]` with and without x, `(a | b)` and `a|b` each way."""
    group = re.search(r"\[([^\[\]]*)\]|\(([^()]*)\)", text)
    if group:
        before, after = text[: group.start()], text[group.end() :]
        optional = group.group(1)
        if optional is not None:  # `[:V|@label]`: none or one of them; `[--x X]`: with, without
            choices = ["", *optional.split("|")] if " " not in optional else [optional, ""]
        else:
            choices = [c.strip() for c in group.group(2).split(" | ")]
        return [form for choice in choices for form in _expand(before + choice + after)]
    alternatives = re.search(r"(\S*?)(\w+(?:\|\w+)+)(\S*)", text)
    if alternatives:
        head, words, tail = alternatives.groups()
        start, end = alternatives.span()
        return [form for word in words.split("|")
                for form in _expand(text[:start] + head + word + tail + text[end:])]  # fmt: skip
    return [text]


def _readme_examples() -> list[list[str]]:
    """The argument lists of every form of every command in the README's command table."""
    examples = []
    for cell in _readme_command_cells():
        noun = None
        for snippet in re.findall(r"`([^`]+)`", cell):
            words = snippet.replace("\\|", "|").replace("...", "").split()
            if words[0] == "automl":
                noun, words = words[1], words[2:]
            for form in _expand(" ".join(words)):
                args = [re.sub(r"\b([A-Z]+)\b", _placeholder, word) for word in form.split()]
                for i, option in enumerate(args[:-1]):
                    args[i + 1] = OPTION_VALUES.get(option, args[i + 1])
                examples.append([noun, *args])
    return examples


def _placeholder(match: re.Match) -> str:
    return PLACEHOLDERS.get(match.group(1), match.group(1))


def test_every_readme_command_example_parses():
    """Each form of each command line in README's table is accepted by the CLI's parser:
    the command exists, its arguments and options are real, values convert, nothing required
    is missing (the command itself does not run: other tests run each command)."""
    import typer

    from automl.cli.main import app, typer_click

    root = typer.main.get_command(app)
    examples = _readme_examples()
    assert len(examples) >= 40 and len({e[0] + " " + e[1] for e in examples}) >= 20
    for noun, verb, *rest in examples:
        command = root.commands[noun].commands[verb]
        try:
            command.make_context(f"automl {noun} {verb}", rest).close()
        except typer_click().exceptions.ClickException as error:
            example = " ".join([noun, verb, *rest])
            raise AssertionError(f"README: `automl {example}`: {error.format_message()}") from None
