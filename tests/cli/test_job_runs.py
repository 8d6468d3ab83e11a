"""Run management as a shell sees it (the installed `automl` script): unique run names, the
index of runs from any folder, experiments, trial tables, log_verbosity, weights checks."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML

# A 1-epoch tiny job with a name, an experiment and debug-level trial logs.
RUN = {"name": "tiny", "experiment_name": "exp", "log_verbosity": "debug"}


def automl(*args, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOML, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same job file created twice from one folder (the second at log level warning)."""
    base = tmp_path_factory.mktemp("runs_cli")
    env = {**os.environ, "AUTOML_HOME": str(base / "home"), "OMP_NUM_THREADS": "1"}
    work = folder(base / "work")
    write_job(work, **RUN)
    first = automl("job", "create", "-f", "job.yml", "-o", "json", cwd=work, env=env)
    assert first.returncode == 0, first.stderr
    second = automl("job", "create", "-f", "job.yml", "--set", "log_verbosity=warning",
                    "-o", "json", cwd=work, env=env)  # fmt: skip
    assert second.returncode == 0, second.stderr
    names = [json.loads(result.stdout)["name"] for result in (first, second)]
    return base, env, names


@pytest.mark.slow
def test_a_second_create_of_the_same_file_is_a_new_run(two_runs):
    base, _, (first, second) = two_runs
    assert first == "tiny" and second.startswith("tiny-") and second != first
    assert (base / "work" / "runs" / "exp" / first / "job.yml").is_file()
    assert (base / "work" / "runs" / "exp" / second / "job.yml").is_file()


@pytest.mark.slow
def test_show_and_list_work_from_any_folder(two_runs):
    base, env, (first, second) = two_runs
    cron = folder(base / "cron")
    shown = automl("job", "show", first, "-o", "json", cwd=cron, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_dir"] == str(base / "work" / "runs" / "exp" / first)
    as_text = automl("job", "show", first, cwd=cron, env=env)
    assert as_text.returncode == 0 and "completed" in as_text.stdout
    assert "best model" in as_text.stdout
    listed = automl("job", "list", cwd=cron, env=env)
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["name", "experiment", "status", "trials", "best"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {first, second}
    assert rows[first][1:4] == ["exp", "completed", "1"] and float(rows[first][4]) >= 0
    by_experiment = automl("job", "list", "--experiment", "exp", "-o", "json", cwd=cron, env=env)
    assert {run["name"] for run in json.loads(by_experiment.stdout)} == {first, second}
    other = automl("job", "list", "--experiment", "other", "-o", "json", cwd=cron, env=env)
    assert json.loads(other.stdout) == []
    resumed = automl("job", "resume", first, "-o", "json", cwd=cron, env=env)
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["status"] == "completed"
    canceled = automl("job", "cancel", second, cwd=cron, env=env)
    assert canceled.returncode == 1 and f"{second} is not running" in canceled.stderr


@pytest.mark.slow
def test_log_verbosity_sets_the_trial_log_level(two_runs):
    base, _, (first, second) = two_runs
    debug_log = (base / "work" / "runs" / "exp" / first / "trials" / "0" / "trial.log").read_text()
    quiet_log = (base / "work" / "runs" / "exp" / second / "trials" / "0" / "trial.log").read_text()
    assert " DEBUG automl.trial: epoch 1/1 trained" in debug_log
    assert " INFO " in debug_log and " INFO " not in quiet_log and " DEBUG " not in quiet_log


@pytest.mark.slow
def test_an_explicit_name_that_exists_is_refused_with_a_hint(two_runs):
    base, env, (first, _) = two_runs
    result = automl("job", "create", "-f", "job.yml", "--name", first, "--run-dir",
                    base / "new", cwd=base / "work", env=env)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"--name {first}: a run with this name already exists" in result.stderr
    assert "hint: leave --name out" in result.stderr and not (base / "new").exists()


def test_show_lists_the_trials_and_marks_the_best(tmp_path):
    run_dir = folder(tmp_path / "sweep")
    (run_dir / "job.yml").write_text("type: automl\n")
    trials = [
        {"number": 0, "state": "complete", "params": {"model_name": "resnet18",
         "learning_rate": 0.01}, "score": 0.5, "epochs_completed": 3, "duration_s": 12.25},
        {"number": 1, "state": "complete", "params": {"model_name": "mobilenetv2",
         "learning_rate": 0.002}, "score": 0.75, "epochs_completed": 3, "duration_s": 9.0},
        {"number": 2, "state": "pruned", "params": {"model_name": "resnet18",
         "learning_rate": 0.05}, "score": 0.25, "epochs_completed": 1, "duration_s": 3.5},
    ]  # fmt: skip
    summary = {"name": "sw", "status": "completed", "primary_metric": {"name": "accuracy"},
               "best_trial": {"number": 1, "score": 0.75, "params": trials[1]["params"]},
               "trials": trials, "run_dir": str(run_dir)}  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary))
    env = {**os.environ, "COLUMNS": "40"}
    text = automl("job", "show", run_dir, cwd=tmp_path, env=env)
    assert text.returncode == 0, text.stderr
    table = text.stdout.splitlines()[text.stdout.splitlines().index("") + 1 :]
    assert table[0].split() == ["trial", "state", "accuracy", "epochs", "duration", "best",
                                "params"]  # fmt: skip
    assert table[2].split() == ["1", "complete", "0.7500", "3", "9.0s", "*",
                                "model_name=mobilenetv2,", "learning_rate=0.002"]  # fmt: skip
    assert table[3].split()[:5] == ["2", "pruned", "0.2500", "1", "3.5s"]
    assert "*" not in table[1] and "*" not in table[3]
    as_json = json.loads(automl("job", "show", run_dir, "-o", "json", cwd=tmp_path, env=env).stdout)
    assert [trial["best"] for trial in as_json["trials"]] == [False, True, False]


def _weights_job(tmp_path: Path) -> Path:
    return write_job(tmp_path, **RUN, model="resnet18", pretrained=None)


def _offline_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
    # AUTOML_STANDBY=0: the job stops before any trial, a standby process would only cost
    return {**env, "TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9",
            "AUTOML_HOME": str(tmp_path / "home"), "AUTOML_STANDBY": "0"}  # fmt: skip


def test_validate_warns_about_weights_that_are_not_cached(tmp_path):
    result = automl("job", "validate", "-f", _weights_job(tmp_path), "--skip-data",
                    cwd=tmp_path, env=_offline_env(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: pretrained weights not in the caches for resnet18" in result.stdout
    assert "`automl weights fetch resnet18`" in result.stdout


def test_create_offline_fails_before_data_preparation(tmp_path):
    result = automl("job", "create", "-f", _weights_job(tmp_path), cwd=tmp_path,
                    env=_offline_env(tmp_path))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: pretrained weights for resnet18 are not in the caches" in result.stderr
    assert "cannot be downloaded (resnet18: download.pytorch.org did not answer" in result.stderr
    assert "hint: run `automl weights fetch resnet18`" in result.stderr
    assert "data:" not in result.stderr and not (tmp_path / "runs").exists()
