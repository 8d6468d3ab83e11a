"""Tables never lose data when stdout is not a terminal.

rich cut columns at 80 characters in a pipe (`my-long-mod…`), so `automl model list | grep
NAME` missed long names. Piped, a table is a header line and tab-separated rows.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _support.paths import AUTOML

LONG_NAME = "a-model-name-that-is-much-longer-than-any-column-of-80-chars"  # 60 characters


def automl(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    command = [AUTOML, *(str(arg) for arg in args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def tsv(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def long_named(tmp_path_factory, classification_run):
    """A job and a registered model, both named LONG_NAME (60 characters): the session's
    trained tiny job copied to runs/LONG_NAME (a run folder `job list` reads) with that name
    in its summary, then `automl model register`ed from there."""
    assert len(LONG_NAME) == 60
    base = tmp_path_factory.mktemp("tables")
    env = {**os.environ, "AUTOML_HOME": str(base / "home"), "COLUMNS": "60"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run_dir = base / "runs" / LONG_NAME
    shutil.copytree(classification_run, run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "name": LONG_NAME}))
    result = automl("model", "register", "--name", LONG_NAME, "--job", run_dir, cwd=base, env=env)
    assert result.returncode == 0, result.stderr
    return base, env


@pytest.mark.slow
@pytest.mark.parametrize("noun", ["model", "job"])
def test_a_piped_list_keeps_a_60_character_name_whole(long_named, noun):
    base, env = long_named
    result = automl(noun, "list", cwd=base, env=env)
    assert result.returncode == 0, result.stderr
    rows = tsv(result.stdout)
    assert rows[0][0] == "name" and len({len(row) for row in rows}) == 1
    assert [row[0] for row in rows[1:]] == [LONG_NAME]
    assert "…" not in result.stdout
    # what `automl model list | grep NAME` and `| cut -f1` see
    assert LONG_NAME in [line.split("\t")[0] for line in result.stdout.splitlines()]


def test_piped_weights_list_is_tab_separated_and_whole(tmp_path):
    env = {**os.environ, "COLUMNS": "40"}
    result = automl("weights", "list", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    header, *rows = tsv(result.stdout)
    assert header == ["model", "source", "weights", "cached"]
    assert all(len(row) == 4 for row in rows) and "…" not in result.stdout
    weights = {row[0]: row[2] for row in rows}
    assert weights["vitl16r224"] == "vit_large_patch16_224.augreg_in21k_ft_in1k"  # 42 chars


def test_print_table_on_a_terminal_wraps_instead_of_cutting(monkeypatch):
    from rich.console import Console

    from automl.cli import _common

    buffer = io.StringIO()
    console = Console(file=buffer, width=40, force_terminal=True, color_system=None)
    monkeypatch.setattr(_common, "out_console", lambda: console)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    _common.print_table(["name", "note"], [[LONG_NAME, "[red]x[/red]"]])
    text = buffer.getvalue()
    assert "…" not in text and "[red]x[/red]" in text  # shown as is, not read as markup
    cells = "".join(line.strip("│ ").split("│")[0].strip() for line in text.splitlines()[3:-1])
    assert cells == LONG_NAME


def test_print_table_tsv_and_json(capsys):
    from automl.cli._common import OutputFormat, print_table

    print_table(["a", "b"], [["x\ty", None], [1, "two\nlines"]], OutputFormat.tsv)
    assert capsys.readouterr().out == "a\tb\nx y\t-\n1\ttwo lines\n"
    print_table(["a", "b"], [["x", None]], OutputFormat.json)
    assert json.loads(capsys.readouterr().out) == [{"a": "x", "b": None}]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
