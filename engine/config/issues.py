"""Problems found in a job file, and where they are: `job.yml:LINE: $.path: message`.

Every stage (load, overrides, validate, checks) reports `Issue`s with a path into the job
data; a `Locator` turns the path into a line of the file, or into the `--set` override that
put the value there, so the user is pointed at what they typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from automl.engine.errors import ConfigError
from automl.engine.utils.quoting import shorten
from automl.engine.utils.yaml_load import YamlData
from automl.schemas import limit, limit_hint

PathT = tuple  # tuple[str | int, ...]: keys of mappings and indexes of lists


class JobProblems(ConfigError):
    """The problems of a job file: `issues` lists at most `job_problems` of them (and a line
    counting the rest); `n_problems` is how many there are."""

    def __init__(self, message: str, *, issues: list[str], n_problems: int) -> None:
        super().__init__(message, issues=issues)
        self.n_problems = n_problems


@dataclass(frozen=True)
class Issue:
    """One problem (level "error") or notice (level "warning") at `path` in the job."""

    path: PathT
    message: str
    level: str = "error"
    location: str | None = None  # set when the problem is not at a path (a bad --set)

    @property
    def is_error(self) -> bool:
        return self.level == "error"


def warning(path: PathT, message: str) -> Issue:
    """An `Issue` that does not make the job invalid."""
    return Issue(tuple(path), message, "warning")


def format_path(path: Sequence) -> str:
    """('search_space', 0, 'learning_rate') -> '$.search_space[0].learning_rate'.

    Keys come from the file, so each is cut to the bound on quoted values.
    """
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{shorten(str(part))}"
    return text


@dataclass
class Locator:
    """Maps a path in the job data to `file:LINE` or to the `--set` that set it.

    `source` holds the line of every key of the file; `prefix` is where the job sits in the
    file (`('jobs', 'node')` for the automl node of a pipeline), shown in every path.
    """

    label: str
    source: YamlData | None = None
    overrides: dict[PathT, str] = field(default_factory=dict)  # path -> "key.path=value"
    prefix: PathT = ()

    def locate(self, path: Sequence) -> str:
        path = tuple(path)
        for override_path, text in self.overrides.items():
            if path[: len(override_path)] == override_path:
                return f"--set {shorten(text)}"
        return f"{self.label}:{self.line_of(path)}"

    def line_of(self, path: Sequence) -> int:
        """1-based line of the deepest part of `path` present in the file (1 if none)."""
        return self.source.line_of(tuple(path)) if self.source is not None else 1

    def format(self, issue: Issue) -> str:
        if issue.location:
            return f"{issue.location}: {issue.message}"
        where = format_path(self.prefix + tuple(issue.path))
        return f"{self.locate(issue.path)}: {where}: {issue.message}"

    def sort_key(self, issue: Issue) -> tuple[int, str]:
        location = issue.location or self.locate(issue.path)
        line = self.line_of(issue.path) if not location.startswith("--set") else 10**9
        return line, format_path(issue.path)


def raise_for_errors(issues: Iterable[Issue], locator: Locator) -> None:
    """Raise one `ConfigError` listing every error in `issues` (warnings are not errors)."""
    errors = sorted((i for i in issues if i.is_error), key=locator.sort_key)
    if not errors:
        return
    lines = _unique(locator.format(i) for i in errors)
    n_problems, n_listed = len(lines), limit("job_problems")
    if n_problems > n_listed:
        lines = lines[:n_listed] + [
            f"{locator.label}: ... and {n_problems - n_listed:,} more problems, not listed "
            f"(fix these first, or {limit_hint('job_problems')})"
        ]
    noun = "problem" if n_problems == 1 else "problems"
    message = f"{locator.label} is not a valid job ({n_problems:,} {noun}):\n  "
    raise JobProblems(message + "\n  ".join(lines), issues=lines, n_problems=n_problems)


def format_warnings(issues: Iterable[Issue], locator: Locator) -> list[str]:
    """The warnings of `issues` as located lines, in file order."""
    found = sorted((i for i in issues if not i.is_error), key=locator.sort_key)
    return _unique(locator.format(i) for i in found)


def _unique(lines: Iterable[str]) -> list[str]:
    # Values in messages are quoted short already; this bounds a line whatever it holds.
    bound = 10 * limit("error_value_chars")
    return list(dict.fromkeys(shorten(line, bound) for line in lines))
