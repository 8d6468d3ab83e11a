"""Run the sweep controller in its own process (the kill -9 test): controller_main.py CONFIG.

CONFIG is JSON: {"job": {StubJob fields}, "run_dir": str, "data_dir": str, "resume": bool}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sweep_stubs import FAKE_TRIAL, StubJob, stub_resolver, write_manifests

from automl.engine.sweep import run_job


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    data = write_manifests(Path(config["data_dir"]))
    run_job(
        StubJob(**config["job"]),
        Path(config["run_dir"]),
        data,
        resume=config.get("resume", False),
        gpus=[],
        trial_module=FAKE_TRIAL,
        resolve_parameters=stub_resolver,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
