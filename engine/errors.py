"""The one family of user-facing errors.

Everything a user can fix (a bad job file, missing images, an unknown model name) raises an
`AutomlError`. The CLI catches it once, prints the message and exits with `exit_code`;
a traceback is shown only with `--debug`. Bugs stay ordinary exceptions.
"""

from __future__ import annotations


class AutomlError(Exception):
    """An error the user can act on: the message says where, what, and how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class ConfigError(AutomlError):
    """The job file (or an override) is invalid. `issues` holds every problem found."""

    def __init__(self, message: str, *, issues: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.issues = list(issues or [])


class DataError(AutomlError):
    """The training or validation data cannot be used as given."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class RegistryError(AutomlError):
    """An unknown name was asked of a registry (models, samplers, pruners, converters)."""


class TrialError(AutomlError):
    """A trial could not run (its log says why)."""


class LimitError(AutomlError):
    """An input is over one of the bounds in schemas/limits.json; the message says the limit
    and how to raise it."""


class UsageError(AutomlError):
    """The command line itself is wrong (exit code 2, as for typer's own usage errors)."""

    exit_code = 2


class CanceledError(AutomlError):
    """The user canceled the job (Ctrl-C, SIGTERM or `automl job cancel`)."""

    exit_code = 130
