"""Job files and MLTables are hostile input: what a shell user sees when they are.

Each test runs the installed `automl` console script, as cron or a pipeline would, and
checks the exit code, a one-line error naming file:line, and that no traceback is printed.
The bombs run under a 1 GiB address-space limit: before their bounds they died there.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

AUTOML = str(Path(sys.executable).with_name("automl"))
MEMORY_CAP = 1 << 30
JOB = """\
type: automl
task: image_classification
target_column_name: label
training_data: {path: train}
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_automl(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOML, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_cap_memory,
        env={**os.environ, "COLUMNS": "200"},
    )


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """'billion laughs': each level lists the previous one `width` times (9**9 leaves)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        items = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{items}]")
    return "\n".join(lines) + "\n"


def assert_one_line_error(result, fragment: str, max_chars: int = 2000) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in output
    line = next((ln for ln in output.splitlines() if fragment in ln), None)
    assert line is not None, output[-2000:]
    assert len(line) <= max_chars
    return line


def test_alias_bomb_in_a_job_file_is_refused_at_its_line(tmp_path):
    (tmp_path / "job.yml").write_text(JOB + alias_bomb())
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    line = assert_one_line_error(result, "YAML aliases expand to more than 10,000")
    assert line.startswith("job.yml:")
    assert "AUTOML_MAX_YAML_ALIAS_NODES" in line


def test_alias_bomb_in_an_mltable_is_refused(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "MLTable").write_text(alias_bomb() + "paths: *l8\n")
    (tmp_path / "job.yml").write_text(JOB)
    result = run_automl("job", "validate", "-f", "job.yml", cwd=tmp_path)
    line = assert_one_line_error(result, "YAML aliases expand to more than")
    assert "MLTable:" in line


def test_small_aliases_and_merge_keys_still_work(tmp_path):
    (tmp_path / "train").mkdir()
    text = JOB + (
        "limits: {max_trials: 2}\n"
        "sweep: {sampling_algorithm: random}\n"
        "search_space:\n"
        "  - &common\n"
        "    learning_rate: &lr {type: uniform, min_value: 0.001, max_value: 0.01}\n"
        "    model_name: resnet18\n"
        "  - <<: *common\n"
        "    model_name: resnet50\n"
        "    momentum: {type: uniform, min_value: 0.8, max_value: 0.95}\n"
    )
    (tmp_path / "job.yml").write_text(text)
    result = run_automl("job", "render", "-f", "job.yml", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    space = json.loads(result.stdout)["search_space"]
    assert space[1]["learning_rate"] == space[0]["learning_rate"]
    assert space[1]["model_name"] == "resnet50"


def test_deep_nesting_is_refused_at_its_line(tmp_path):
    (tmp_path / "job.yml").write_text(JOB + "tags: " + "[" * 300 + "]" * 300 + "\n")
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    line = assert_one_line_error(result, "nested deeper than 64 levels")
    assert line.startswith("job.yml:5:") and "AUTOML_MAX_YAML_DEPTH" in line


def test_device_as_job_file_is_refused_at_once(tmp_path):
    result = run_automl("job", "validate", "-f", "/dev/zero", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "not a regular file")


def test_fifo_as_job_file_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "job.yml")
    result = run_automl("job", "validate", "-f", "job.yml", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "not a regular file")


def test_job_file_over_its_size_limit_names_the_variable(tmp_path, monkeypatch):
    (tmp_path / "job.yml").write_text(JOB + "# padding\n" * 20)
    monkeypatch.setenv("AUTOML_MAX_JOB_FILE_BYTES", "100")
    result = run_automl("job", "validate", "-f", "job.yml", cwd=tmp_path)
    line = assert_one_line_error(result, "larger than the limit of 100 bytes")
    assert "AUTOML_MAX_JOB_FILE_BYTES" in line


def test_device_as_mltable_is_refused(tmp_path):
    (tmp_path / "train").mkdir()
    os.symlink("/dev/zero", tmp_path / "train" / "MLTable")
    (tmp_path / "job.yml").write_text(JOB.replace("path: train", "path: train/MLTable"))
    result = run_automl("job", "validate", "-f", "job.yml", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "not a regular file")


def test_error_lines_quote_long_values_short(tmp_path):
    huge = "x" * 200_000
    (tmp_path / "train").mkdir()
    (tmp_path / "job.yml").write_text(JOB.replace("image_classification", huge))
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    line = assert_one_line_error(result, "unknown value", max_chars=1000)
    assert "..." in line and "(200,000 characters)" in line


def test_mltable_errors_quote_long_values_short(tmp_path):
    """A 331-byte MLTable of aliases once made a 35 MB error line: aliases are bounded and
    every value an MLTable error quotes is cut."""
    (tmp_path / "train").mkdir()
    item = "{file: " + "y" * 50_000 + ", folder: z}"
    (tmp_path / "train" / "MLTable").write_text(f"paths:\n  - {item}\n")
    (tmp_path / "job.yml").write_text(JOB)
    result = run_automl("job", "validate", "-f", "job.yml", cwd=tmp_path)
    assert_one_line_error(result, "must have exactly one of", max_chars=1000)


def test_unknown_keys_are_quoted_short(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "job.yml").write_text(JOB + "? " + "k" * 100_000 + "\n: 1\n")
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    assert_one_line_error(result, "unknown key", max_chars=1000)


def _load_seconds(path: Path) -> float:
    """CPU seconds of the quickest of 3 loads: the time other processes take the core
    (a busy machine) does not count."""
    from automl.engine.config.load import load_document

    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        load_document(path)
        best = min(best, time.process_time() - start)
    return best


def test_parse_time_is_linear_in_comment_lines(tmp_path):
    """ruamel's round-trip scanner joined each comment line to the ones before it: 4x the
    lines took 12x the time. The bounded loader skips comments; 4x lines stay near 4x."""

    def write(n_lines: int) -> Path:
        path = tmp_path / f"job{n_lines}.yml"
        comments = "  # a comment line\n" * n_lines
        path.write_text(
            JOB + "training_parameters:\n  momentum: 0.9\n" + comments + "  nesterov: true\n"
        )
        return path

    small, large = write(10_000), write(40_000)
    ratio = _load_seconds(large) / _load_seconds(small)
    assert ratio < 8, f"4x the comment lines took {ratio:.1f}x the time"


@pytest.mark.parametrize("name", ["..", ".", "-rf", "a/b", "x" * 129])
def test_job_name_rule_is_the_same_in_validate_and_create(tmp_path, name):
    from automl.engine.errors import UsageError
    from automl.engine.runs.rundir import check_job_name

    with pytest.raises(UsageError):
        check_job_name(name)
    (tmp_path / "job.yml").write_text(JOB + f"name: '{name}'\n")
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    assert_one_line_error(result, "it becomes a folder name")


def test_deep_json_in_advanced_settings_is_a_clear_error(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    text = JOB + f"training_parameters:\n  advanced_settings: '{{\"x\": {deep}}}'\n"
    (tmp_path / "job.yml").write_text(text)
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    line = assert_one_line_error(result, "JSON nested too deeply to read")
    assert line.startswith("job.yml:6:")


def test_problems_listed_are_bounded_and_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_JOB_PROBLEMS", "5")
    (tmp_path / "job.yml").write_text(JOB + "".join(f"key_{i}: 1\n" for i in range(50)))
    result = run_automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    listed = result.stdout.splitlines()
    assert len(listed) == 6
    assert "... and 45 more problems, not listed" in listed[-1]
    assert "AUTOML_MAX_JOB_PROBLEMS" in listed[-1]
    assert "is not a valid job (50 problems)" in result.stderr
