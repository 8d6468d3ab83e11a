"""Usage errors as a shell sees them: exit 2, click's usage line, never a traceback.

typer 0.2x runs on its own copy of click (`typer._click`): catching the `click` package's
exceptions caught nothing, and every usage error printed a traceback with exit code 1.
These tests run the installed console script, as a user or a cron job does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AUTOML = str(Path(sys.executable).with_name("automl"))


def automl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOML, *args], capture_output=True, text=True, timeout=120, env=env)


USAGE_ERRORS = {
    "unknown command": (["jb"], "Usage: automl [OPTIONS] COMMAND", "No such command 'jb'"),
    "unknown subcommand": (["job", "craete"], "Usage: automl job", "No such command"),
    "unknown option": (["--bogus"], "Usage: automl", "No such option: --bogus"),
    "unknown option of a command": (
        ["model", "list", "--bogus"],
        "Usage: automl model list",
        "No such option: --bogus",
    ),
    "missing required option": (
        ["job", "create"],
        "Usage: automl job create",
        "Missing option '--file'",
    ),
    "missing argument": (["model", "show"], "Usage: automl model show", "Missing argument"),
    "bad enum value": (
        ["data", "convert", "--from", "pascal", "-i", "x", "--output-dir", "y"],
        "Usage: automl data convert",
        "Invalid value for '--from'",
    ),
    "bad output format": (
        ["weights", "list", "-o", "xml"],
        "Usage: automl weights list",
        "'xml' is not an output format (text|json|tsv)",
    ),
    "option without its value": (["job", "validate", "--file"], "Usage:", "requires an argument"),
    "bad integer": (
        ["model", "serve", "m", "--port", "http"],
        "Usage: automl model serve",
        "Invalid value for '--port'",
    ),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors_exit_2_with_the_usage_line_and_no_traceback(case):
    args, usage, message = USAGE_ERRORS[case]
    result = automl(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert usage in result.stderr and message in result.stderr
    assert "Try 'automl" in result.stderr  # click's pointer to -h
    assert result.stdout == ""


@pytest.mark.parametrize("args", [[], ["job"], ["model"]])
def test_a_group_without_its_command_prints_help_and_exits_2(args):
    """typer's no_args_is_help as click >= 8.2 does it: the help, then exit 2 (a usage
    error: a script that forgot the command must not look successful)."""
    result = automl(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Usage: {' '.join(['automl', *args])} [OPTIONS] COMMAND" in result.stdout


def test_help_and_version_exit_0():
    result = automl("--help")
    assert result.returncode == 0 and "Usage: automl [OPTIONS] COMMAND" in result.stdout
    assert "--install-completion" in result.stdout and result.stderr == ""
    result = automl("job", "create", "-h")
    assert result.returncode == 0 and "--file" in result.stdout
    result = automl("--version")
    assert result.returncode == 0 and result.stdout.startswith("automl-vision ")


def test_shell_completion_script_and_completions():
    # the shell named, not detected: a test runs under no shell when its parent is gone
    no_detection = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = automl("--show-completion", "bash", env=no_detection)
    assert result.returncode == 0 and "_automl_completion" in result.stdout
    env = {
        **os.environ,
        "_AUTOML_COMPLETE": "complete_bash",
        "COMP_WORDS": "automl model list -o ",
        "COMP_CWORD": "4",
    }
    result = automl(env=env)
    assert result.returncode == 0
    assert result.stdout.split() == ["text", "json", "tsv"]


def test_user_errors_still_exit_1_without_traceback(tmp_path):
    result = automl("job", "render", "--file", str(tmp_path / "missing.yml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "error:" in result.stderr
