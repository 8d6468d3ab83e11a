"""The index of runs: unique names, lookups from any folder, deleted runs dropped."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from automl.engine.errors import AutomlError
from automl.engine.registry.run_index import RunIndex
from automl.engine.runs.naming import claim_run, file_stem_name
from automl.engine.runs.rundir import find_run_dir, list_runs


def fake_job(tmp_path, name=None, experiment=None, stem="nightly"):
    resolved = {"experiment_name": experiment} if experiment else {}
    path = tmp_path / f"{stem}.yml"
    return SimpleNamespace(name=name, path=path, resolved=resolved, task="image_classification")


def record_job(run_dir: Path, name: str, started="2026-01-01T00:00:00+00:00") -> Path:
    """What `job create` writes first (job.yml), plus a finished summary."""
    (run_dir / "job.yml").write_text("type: automl\n")
    summary = {"name": name, "status": "completed", "trials": [], "started_at": started}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_the_file_name_is_used_while_free_then_a_unique_one(tmp_path):
    job = fake_job(tmp_path, name="flowers")
    first, first_dir = claim_run(job, None, None, tmp_path / "runs")
    second, second_dir = claim_run(job, None, None, tmp_path / "runs")
    assert first == "flowers" and first_dir == (tmp_path / "runs" / "flowers").resolve()
    assert second.startswith("flowers-") and second != first and second_dir.is_dir()
    assert second_dir.name == second


def test_without_a_name_the_file_stem_with_time_and_suffix(tmp_path):
    job = fake_job(tmp_path, stem="my nightly job")
    name, _ = claim_run(job, None, None, tmp_path / "runs")
    assert name.startswith("my-nightly-job-") and len(name.split("-")[-1]) == 4
    assert file_stem_name("...") == "job"


def test_an_explicit_name_that_exists_is_an_error_with_a_hint(tmp_path):
    job = fake_job(tmp_path)
    claim_run(job, "mine", None, tmp_path / "runs")
    with pytest.raises(AutomlError, match="already exists") as info:
        claim_run(job, "mine", tmp_path / "elsewhere", tmp_path / "runs")
    assert "leave --name out" in str(info.value) and "automl job resume mine" in str(info.value)
    assert not (tmp_path / "elsewhere").exists()


def test_runs_in_different_run_dirs_never_share_a_name(tmp_path):
    job = fake_job(tmp_path, name="same")
    a, _ = claim_run(job, None, tmp_path / "a", tmp_path / "runs")
    b, _ = claim_run(job, None, tmp_path / "b", tmp_path / "runs")
    assert a == "same" and b != a
    assert RunIndex().get(b).run_dir == (tmp_path / "b").resolve()


def test_a_run_dir_that_holds_a_job_is_still_refused(tmp_path):
    record_job(tmp_path, "old")
    with pytest.raises(AutomlError, match="already holds a job"):
        claim_run(fake_job(tmp_path, name="new"), None, tmp_path, tmp_path / "runs")
    assert RunIndex().get("new") is None  # the claim was rolled back


def test_an_old_run_folder_under_the_root_is_not_reused(tmp_path):
    record_job(_mkdir(tmp_path / "runs" / "flowers"), "flowers")  # made before the index
    name, run_dir = claim_run(fake_job(tmp_path, name="flowers"), None, None, tmp_path / "runs")
    assert name != "flowers" and run_dir.parent == (tmp_path / "runs").resolve()


def test_experiment_name_is_a_folder_level(tmp_path):
    job = fake_job(tmp_path, name="j", experiment="exp-1")
    _, run_dir = claim_run(job, None, None, tmp_path / "runs")
    assert run_dir == (tmp_path / "runs" / "exp-1" / "j").resolve()
    assert RunIndex().get("j").experiment == "exp-1"
    with pytest.raises(AutomlError, match="experiment_name '../x' cannot be a folder name"):
        claim_run(fake_job(tmp_path, name="k", experiment="../x"), None, None, tmp_path / "r")


def test_find_run_dir_by_name_from_any_folder(tmp_path, monkeypatch):
    _, run_dir = claim_run(fake_job(tmp_path, name="far"), None, tmp_path / "x" / "y", tmp_path)
    record_job(run_dir, "far")
    monkeypatch.chdir(_mkdir(tmp_path / "cron"))
    assert find_run_dir("far") == run_dir


def test_runs_made_before_the_index_are_still_found_and_listed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = record_job(_mkdir(tmp_path / "runs" / "old"), "old")
    nested = record_job(_mkdir(tmp_path / "runs" / "exp" / "older"), "older")
    assert find_run_dir("old") == old.resolve()
    runs = {run["name"]: run for run in list_runs()}
    assert set(runs) == {"old", "older"} and runs["older"]["experiment"] == "exp"
    assert [run["run_dir"] for run in list_runs(experiment="exp")] == [str(nested.resolve())]


def test_a_deleted_run_drops_out_of_the_index(tmp_path):
    _, run_dir = claim_run(fake_job(tmp_path, name="gone"), None, None, tmp_path / "runs")
    record_job(run_dir, "gone")
    assert [run["name"] for run in list_runs(tmp_path / "nowhere")] == ["gone"]
    shutil.rmtree(run_dir)
    assert list_runs(tmp_path / "nowhere") == []
    with pytest.raises(AutomlError, match="no job named or at 'gone'"):
        find_run_dir("gone", tmp_path / "nowhere")
    assert RunIndex().list() == []
    name, _ = claim_run(fake_job(tmp_path, name="gone"), None, None, tmp_path / "runs")
    assert name == "gone"  # the name is free again


def test_unknown_names_get_did_you_mean(tmp_path):
    _, run_dir = claim_run(fake_job(tmp_path, name="flowers"), None, None, tmp_path / "runs")
    record_job(run_dir, "flowers")
    with pytest.raises(AutomlError, match="did you mean 'flowers'"):
        find_run_dir("flowrs", tmp_path / "nowhere")


def test_list_filters_by_experiment(tmp_path):
    for name, experiment in (("a", "x"), ("b", "y"), ("c", None)):
        job = fake_job(tmp_path, name=name, experiment=experiment)
        record_job(claim_run(job, None, None, tmp_path / "runs")[1], name)
    assert [run["name"] for run in list_runs(tmp_path / "nowhere", experiment="x")] == ["a"]
    assert len(list_runs(tmp_path / "nowhere")) == 3
    assert len(list_runs(tmp_path / "runs")) == 3  # indexed and under the root: listed once


CLAIM_SCRIPT = """
import sys
from pathlib import Path
from types import SimpleNamespace
from automl.engine.runs.naming import claim_run
job = SimpleNamespace(name="race", path=Path("race.yml"), resolved={}, task="x")
print(claim_run(job, None, None, Path(sys.argv[1]))[0])
"""


def test_processes_claiming_one_name_at_once_get_different_names(tmp_path):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_SCRIPT, str(tmp_path / "runs")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    names = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert len(set(names)) == 4 and "race" in names
    assert sorted(row.name for row in RunIndex().list()) == sorted(names)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
