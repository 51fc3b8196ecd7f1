"""Error classes. Each carries its exit code; only ``otxgen.cli`` turns them into messages and codes."""

from __future__ import annotations


class OtxgenError(Exception):
    """Base class: a one-line message and the process exit code it maps to."""

    exit_code = 3


class FindingsError(OtxgenError):
    """The input was read but is wrong or would change: findings, mismatches, needs input."""

    exit_code = 1


class UsageError(OtxgenError):
    """Bad command-line usage: unknown library, bad ``--set``, conflicting options."""

    exit_code = 2


class InputError(OtxgenError):
    """Unreadable or invalid input; the message starts with ``file:line:col`` where there is one."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, line: int = 0, col: int = 0) -> None:
        self.path, self.line, self.col, self.cause = path, line, col, message
        super().__init__(
            f"{path}:{line}:{col}: {message}" if path and line else f"{path}: {message}" if path else message
        )


class ArgumentError(InputError):
    """A backbone argument the library refuses when the backbone is built: ``argument`` names it, so
    the caller can point at where it was given (a backbone.yaml line, a ``--set``)."""

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


class MissingExtraError(OtxgenError):
    """A command needs the heavy stack (torch, mm*) which is not installed."""

    exit_code = 2


class WorkerStartError(MissingExtraError):
    """A matrix worker process did not start (the [mm] stack broken or missing there): no cell can run.
    The same exit code as a missing extra in this process: it is the same cause, one process away."""
