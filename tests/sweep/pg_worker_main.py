"""One sweep worker in its own process: pg_worker_main.py CONFIG.

CONFIG is JSON: {"job": {StubJob fields}, "run_dir", "data_dir", "join"}; the storage URL
comes from PG_WORKER_STORAGE_URL (never written to a file: the tests grep files for it).
The first process creates the job's study (join false), the others join it. Each worker
logs to stderr as the CLI does; the tests read those logs for secrets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from sweep_stubs import StubJob, stub_resolver, write_manifests

from automl.engine.sweep import run_job

PG_TRIAL = str(Path(__file__).with_name("pg_trial.py"))


def main(config_path: str) -> int:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    config = json.loads(Path(config_path).read_text())
    data = write_manifests(Path(config["data_dir"]))
    run_job(
        StubJob(**config["job"]),
        Path(config["run_dir"]),
        data,
        storage_url=os.environ["PG_WORKER_STORAGE_URL"],
        join=config.get("join", False),
        gpus=[],
        trial_module=PG_TRIAL,
        resolve_parameters=stub_resolver,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
