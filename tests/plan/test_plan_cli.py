"""`automl job plan` as a shell user runs it, and its plan against the actual duration of
the jobs it planned (a single trial and a small sweep, on 2 shared CPU cores)."""

from __future__ import annotations

import json
import subprocess

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML

SWEEP = {
    "limits": {"max_trials": 2, "max_concurrent_trials": 1},
    "sweep": {"sampling_algorithm": "random"},
    "search_space": [{"learning_rate": {"type": "uniform", "min_value": 0.001, "max_value": 0.01}}],
}
# The loose bound of a plan on a shared 2-core CI machine (README states the error seen).
LOW, HIGH = 0.25, 4.0


def automl(*args: str, home, check: bool = True) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "AUTOML_HOME": str(home)}
    done = subprocess.run([AUTOML, *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """(home, folder, the sweep's plan): `automl job plan -o json` of the sweep, which also
    stores the calibration of its one configuration (the single job's too) in home."""
    folder = tmp_path_factory.mktemp("plan")
    home = folder / "home"  # its own: other tests' jobs must not find the calibrations
    write_job(folder, filename="single.yml", epochs=2)
    write_job(folder, filename="sweep.yml", epochs=1, **SWEEP)
    done = automl("job", "plan", "-f", str(folder / "sweep.yml"), "-o", "json", home=home)
    return home, folder, json.loads(done.stdout)


@pytest.mark.slow
def test_plan_json_gives_scripts_the_wall_time_and_hours(planned):
    _, _, plan = planned
    low, high = plan["wall_seconds_range"]
    assert 0 < low <= plan["wall_seconds"] <= high
    assert plan["gpu_hours"] == 0.0 and plan["cpu_hours"] > 0  # CI has no GPU
    assert plan["n_trials"] == 2 and plan["device"] == "cpu"
    assert plan["models"]["test_tiny_cnn"]["calibrated"] is True
    assert plan["models"]["test_tiny_cnn"]["seconds_per_epoch"] > 0
    assert plan["calibration"]["seconds"] <= plan["calibration"]["limit_seconds"] + 30


@pytest.mark.slow
@pytest.mark.parametrize("job", ["single.yml", "sweep.yml"])
def test_the_plan_of_a_job_is_near_its_actual_duration(planned, job):
    home, folder, _ = planned
    runs = folder / f"runs-{job}"
    done = automl("job", "create", "-f", str(folder / job), "--runs-root", str(runs), "-o",
                  "json", home=home)  # fmt: skip
    summary = json.loads(done.stdout)
    run_dir = runs / summary["name"]
    assert (run_dir / "plan.json").is_file()  # written from the stored calibration
    plan = summary["plan"]
    assert plan["actual_wall_seconds"] > 0
    print(f"{job}: planned {plan['wall_seconds']} s, actual {plan['actual_wall_seconds']} s")
    assert LOW <= plan["error_ratio"] <= HIGH, plan


@pytest.mark.slow
def test_plan_prints_seconds_per_epoch_wall_time_and_a_timeout_warning(planned):
    home, folder, _ = planned
    done = automl("job", "plan", "-f", str(folder / "sweep.yml"), "--set", "limits.max_trials=40",
                  "--set", "limits.timeout_minutes=1", home=home)  # fmt: skip
    assert "test_tiny_cnn" in done.stdout and "s/epoch" in done.stdout
    assert "wall time" in done.stdout and "CPU-hours" in done.stdout
    assert "warning: limits.timeout_minutes 1 will stop the job" in done.stdout
    assert "max_trials 40 cannot be reached" in done.stdout


def test_a_negative_price_is_a_usage_error_before_any_calibration(tmp_path):
    job = write_job(tmp_path)
    done = automl("job", "plan", "-f", str(job), "--price-per-gpu-hour=-1", home=tmp_path,
                  check=False)  # fmt: skip
    assert done.returncode == 2
    assert "--price-per-gpu-hour -1" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_missing_job_file_is_exit_1(tmp_path):
    done = automl("job", "plan", "-f", str(tmp_path / "none.yml"), home=tmp_path, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_a_zero_calibration_time_is_a_usage_error(tmp_path):
    job = write_job(tmp_path)
    done = automl("job", "plan", "-f", str(job), "--calibration-seconds", "0", home=tmp_path,
                  check=False)  # fmt: skip
    assert done.returncode == 2
