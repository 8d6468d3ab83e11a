"""Standby trial processes: a trial's Python process started before its trial exists.

Starting a trial costs its process 1-3 s of imports (torch, torchvision, matplotlib,
optuna) before it trains. A standby process pays that while the controller validates the
job and prepares data, or while the previous trial of its slot still trains; the controller
then hands it the trial (spec path, log file, environment) and it runs the trial module as
`python -m MODULE SPEC` would. Anything that goes wrong with a standby (it died, its pipe
broke) falls back to starting the trial the ordinary way, so a standby never decides a
trial's fate.

Some variables act when a library loads or CUDA first initialises, before any hand-over:
CUDA_VISIBLE_DEVICES and the thread counts (STICKY_VARIABLES). A standby is started with
the values of the slot it is meant for and takes only a trial whose values are the same;
every other variable is the trial's own, set at hand-over.

Child: `python -m automl.engine.sweep.standby TARGET` (a module name or a .py file). It
imports TARGET under a plain name (top-level imports run, its `__main__` block does not),
calls TARGET's optional `preload()` (imports done lazily at run time), then waits for one
JSON line on stdin: {"spec": ..., "log": ..., "env": {...}}. An empty stdin (the controller
closed the pipe or died) ends it without running anything. Like a trial it carries its
controller's identity and stops when the controller dies, even while it still imports
(engine/utils/processes.py): a standby never outlives its controller.

Disable with AUTOML_STANDBY=0 (every trial then starts a fresh process).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import runpy
import signal
import subprocess
import sys
import warnings
from pathlib import Path

from automl.engine.utils.processes import controller_marker, stop_when_controller_gone

logger = logging.getLogger("automl.sweep")
STANDBY_ENV = "AUTOML_STANDBY"
TRIAL_MODULE = "automl.engine.training.trial"  # what `automl job create` runs per trial
STICKY_VARIABLES = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (taskset, container cpusets, batch
    schedulers' allocations), not every core of the machine; os.cpu_count() elsewhere."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def cpu_threads_per_slot(n_slots: int) -> int:
    """The CPU threads each of `n_slots` concurrent trials gets (the usable cores split
    evenly): more threads than cores make OpenMP's threads wait on each other."""
    return max(1, usable_cpus() // n_slots)


def slot_variables(devices: str, n_threads: int) -> dict[str, str]:
    """The sticky variables of a trial slot: its GPUs ("" for CPU) and its CPU threads."""
    return {
        "CUDA_VISIBLE_DEVICES": devices,
        "OMP_NUM_THREADS": str(n_threads),
        "MKL_NUM_THREADS": str(n_threads),
    }


def _signature(env: dict) -> tuple:
    return tuple(env.get(name) for name in STICKY_VARIABLES)


def standby_enabled() -> bool:
    return os.environ.get(STANDBY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class StandbyPool:
    """Idle standby processes for one trial target, owned by one controller process.

    `max_idle` caps how many wait at once (each holds torch in memory, a few hundred MB).
    Not thread-safe: the controller's loop is its only user.
    """

    def __init__(self, target: str, max_idle: int = 1, enabled: bool | None = None) -> None:
        self.target = target
        self.max_idle = max_idle
        self.enabled = standby_enabled() if enabled is None else enabled
        self.idle: list[tuple[subprocess.Popen, tuple]] = []

    def prestart(self, variables: dict[str, str]) -> None:
        """Start one more standby for a slot with these sticky `variables` (see
        slot_variables) unless `max_idle` already wait or standbys are off."""
        self.idle = [(process, key) for process, key in self.idle if process.poll() is None]
        if not self.enabled or len(self.idle) >= self.max_idle:
            return
        try:
            self.idle.append((_spawn(self.target, variables), _signature(variables)))
        except OSError as error:  # out of processes or memory: trials start the usual way
            logger.debug("no standby trial process: %s", error)

    def hand_over(self, spec_path: Path, log_path: Path, env: dict) -> subprocess.Popen | None:
        """Run the trial of `spec_path` (its whole environment: `env`) in a waiting standby
        started for the same sticky variables; None when none can take it."""
        wanted = _signature(env)
        for entry in list(self.idle):
            process, key = entry
            if key != wanted:
                continue
            self.idle.remove(entry)
            if process.poll() is not None:
                continue
            order = {"spec": str(spec_path), "log": str(log_path), "env": env}
            try:
                process.stdin.write((json.dumps(order) + "\n").encode())
                process.stdin.close()
            except OSError:  # it died between poll() and the write
                _kill(process)
                continue
            return process
        return None

    def retain(self, slots: list[dict[str, str]]) -> None:
        """Stop the idle standbys started for none of `slots` (sticky variables each): one
        started before the job was read may not match the slots the job asked for."""
        wanted = {_signature(variables) for variables in slots}
        for entry in [entry for entry in self.idle if entry[1] not in wanted]:
            self.idle.remove(entry)
            _kill(entry[0])

    def close(self) -> None:
        """Stop the standbys nobody took (they hold no trial, so nothing is lost)."""
        for process, _ in self.idle:
            _kill(process)
        self.idle = []

    def __enter__(self) -> StandbyPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _spawn(target: str, variables: dict[str, str]) -> subprocess.Popen:
    from automl.engine.training.distributed import clean_launcher_env

    env = {**clean_launcher_env(dict(os.environ)), **variables, **controller_marker()}
    return subprocess.Popen(
        [sys.executable, "-m", __name__, target],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # like a trial: its own process group, killed as a whole
    )


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


# ---- the child ------------------------------------------------------------------------


def _load(target: str) -> None:
    """Run TARGET's imports (not its __main__ block) and its optional preload()."""
    if target.endswith(".py"):
        namespace = runpy.run_path(target, run_name="__standby__")
        preload = namespace.get("preload")
    else:
        preload = getattr(importlib.import_module(target), "preload", None)
    if callable(preload):
        preload()


def _take_order(order: dict) -> None:
    """Become the trial's process: its log on stdout/stderr, its environment."""
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(order["env"])


def _run(target: str, spec: str) -> None:
    """What `python -m TARGET SPEC` (or `python TARGET SPEC`) does, in this process."""
    sys.argv = [target, spec]
    with warnings.catch_warnings():
        # runpy warns that TARGET is already in sys.modules: it is, from the preload.
        warnings.filterwarnings(
            "ignore", message=".*found in sys.modules.*", category=RuntimeWarning
        )
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> int:
    target = argv[0]
    stop_when_controller_gone()
    _load(target)
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the controller closed the pipe: no trial for this standby
    order = json.loads(line)
    _take_order(order)
    _run(target, order["spec"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
