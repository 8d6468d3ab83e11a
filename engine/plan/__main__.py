"""`python -m automl.engine.plan RUN_DIR`: write a run's plan.json from the calibrations
`automl job plan` keeps on this machine (started by `job create`, engine/runs/submit.py).
Exit 0 with plan.json written, 3 when a configuration of the job was never calibrated
here (nothing written), 1 on an error (logged; the job runs without a plan)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

NOT_CALIBRATED_EXIT = 3  # engine/runs/submit.py PLAN_NOT_CALIBRATED


def main(argv: list[str]) -> int:
    from automl.engine.errors import AutomlError
    from automl.engine.plan.api import NotCalibrated, plan_run

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        plan_run(Path(argv[0]))
    except NotCalibrated:
        return NOT_CALIBRATED_EXIT
    except AutomlError as error:
        logging.getLogger("automl.plan").warning("no plan.json: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
