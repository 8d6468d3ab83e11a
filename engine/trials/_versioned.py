"""What every file of the trial contract shares: a `version` field, read and checked in one
place, and plain-JSON reads and writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from automl.engine.errors import TrialError

LEGACY_VERSION = 0  # a file written before the contract had versions (no `version` key)


def check_version(data: Any, *, what: str, where: str, current: int, legacy: bool) -> int:
    """The version of `data` (a JSON object), or TrialError naming the file and the fix.

    `legacy`: whether a file without a `version` key (written by an automl of before the
    versioned contract) is read as version 0 of the same shape.
    """
    if not isinstance(data, Mapping):
        raise TrialError(
            f"{where}: a {what} must be a JSON object, got {type(data).__name__}",
            hint=f"the file is damaged: delete it and rerun the trial ({what} files are "
            "written by automl itself)",
        )
    version = data.get("version", LEGACY_VERSION if legacy else None)
    if version == current or (legacy and version == LEGACY_VERSION):
        return version
    raise TrialError(
        f"{where}: {what} version {version!r}; this automl reads version {current}"
        + (" and unversioned files" if legacy else ""),
        hint="it was written by another automl release: run the job again with this one "
        "(automl job create), or use the release that wrote it",
    )


def require_keys(data: Mapping, keys: tuple[str, ...], *, what: str, where: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise TrialError(
            f"{where}: the {what} lacks {', '.join(missing)}",
            hint=f"{what} files are written by automl itself: run the job again to write it",
        )


def parse_json(text: str, where: str) -> Any:
    """The JSON value in `text`; TrialError naming `where` when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise TrialError(
            f"{where}: not valid JSON ({error})",
            hint="the file is damaged or was cut short: delete it and rerun the trial",
        ) from None
