"""Typed errors. Each carries the exit code the CLI turns it into; only the CLI exits."""

from __future__ import annotations


class TandemError(Exception):
    """A failure we can explain in one line. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        # "what is wrong; how to fix it" on one line. Hints often hold a command or an example in
        # parentheses themselves, so they are not wrapped in another pair.
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(TandemError):
    """Bad option values or combinations."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value is invalid, whatever its source."""


class ProjectError(TandemError):
    """The Django project could not be found or loaded."""

    exit_code = 2


class DependencyError(TandemError):
    """A program tandem drives (nginx, redis-server, ...) is missing."""

    exit_code = 2


class PortInUseError(TandemError):
    """The public address is already taken."""

    exit_code = 3


class BootError(TandemError):
    """A child process exited or never became ready while starting."""

    exit_code = 4

    def __init__(self, message: str, *, hint: str | None = None, output: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint=hint)
        self.output = output


class RuntimeFailure(TandemError):
    """A running deployment failed and could not be kept up (e.g. a flapping child)."""

    exit_code = 5


class ReloadRefused(TandemError):
    """A reload found a problem before touching a running process: the old processes keep serving."""

    exit_code = 8
