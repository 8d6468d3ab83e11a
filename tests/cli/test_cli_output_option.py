"""One meaning for `-o/--output`: the format of what a command prints on stdout, everywhere.

Destinations have their own names (`--output-file`, `--output-dir`). A path given to `-o`,
as four commands took before, is a usage error naming the new option: `model predict -o json`
used to write a file named `json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

AUTOML = str(Path(sys.executable).with_name("automl"))

# Commands that print no result of their own: the endpoint runs until stopped; `job cancel`
# reports one line (its owner may add -o).
NO_OUTPUT_FORMAT = {"model serve", "job cancel"}


def automl(*args, cwd: Path) -> subprocess.CompletedProcess:
    command = [AUTOML, *(str(arg) for arg in args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


OLD_PATH_OPTIONS = {
    "model predict": (["model", "predict", "m", "-i", "imgs", "-o", "preds.jsonl"],
                      "use --output-file preds.jsonl", "preds.jsonl"),
    "model export": (["model", "export", "m", "--output", "m.onnx"],
                     "use --output-file m.onnx", "m.onnx"),
    "model download": (["model", "download", "m", "-o", "pkg"], "use --output-dir pkg", "pkg"),
    "data convert": (["data", "convert", "--from", "folder", "-i", "src", "-o", "out"],
                     "use --output-dir out", "out"),
    "model explain": (["model", "explain", "m", "-i", "imgs", "-o", "expl"],
                      "use --output-dir expl", "expl"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OLD_PATH_OPTIONS))
def test_a_path_given_to_output_names_the_new_option(case, tmp_path):
    args, fix, written = OLD_PATH_OPTIONS[case]
    result = automl(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'--output' is the output format (text|json)" in result.stderr and fix in result.stderr
    assert not (tmp_path / written).exists()


def test_predict_output_json_is_a_format_not_a_file_name(tmp_path):
    result = automl("model", "predict", "no-such-model", "-i", tmp_path, "-o", "json", cwd=tmp_path)
    assert result.returncode == 1 and "no registered model named 'no-such-model'" in result.stderr
    assert not (tmp_path / "json").exists()


def test_convert_writes_into_output_dir_and_prints_json(tmp_path):
    for index in range(4):
        folder = tmp_path / "src" / "ab"[index % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (index * 60, 0, 0)).save(folder / f"{index}.jpg")
    args = ["data", "convert", "--from", "folder", "-i", tmp_path / "src"]
    result = automl(*args, "--output-dir", tmp_path / "out", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n_images"] == 4
    assert (tmp_path / "out" / "MLTable").is_file()
    result = automl(*args, "-d", tmp_path / "out2", cwd=tmp_path)  # text: a line per folder
    assert result.returncode == 0 and "wrote " in result.stdout


def _leaf_commands():
    import typer

    from automl.cli.main import app

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield " ".join(path), command
            return
        for name, sub in subcommands.items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_every_command_that_prints_a_result_takes_the_output_format():
    from automl.cli._common import OutputFormat
    from automl.cli.main import typer_click

    click = typer_click()
    checked = 0
    for name, command in _leaf_commands():
        options = [p for p in command.params if "--output" in getattr(p, "opts", [])]
        if name in NO_OUTPUT_FORMAT:
            continue
        assert options, f"`automl {name}` has no -o/--output FORMAT"
        [option] = options
        assert "-o" in option.opts, name
        ctx = click.Context(command)
        assert option.process_value(ctx, "json") is OutputFormat.json, name
        assert option.process_value(ctx, "text") is OutputFormat.text, name
        checked += 1
    assert checked >= 18


@pytest.mark.parametrize("command", ["model list", "weights list", "job list"])
def test_table_commands_also_take_tsv(command):
    from automl.cli._common import OutputFormat
    from automl.cli.main import typer_click

    click = typer_click()
    leaf = dict(_leaf_commands())[command]
    [option] = [p for p in leaf.params if "--output" in p.opts]
    assert option.process_value(click.Context(leaf), "tsv") is OutputFormat.tsv
