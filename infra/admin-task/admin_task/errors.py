"""The admin task's error tree; each class carries its exit code."""


class TaskError(Exception):
    """An expected failure, reported as `{"ok": false}` with this exit code."""

    exit_code = 1

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        # Extra keys for the {"ok": false} result line, e.g. an audit's counts.
        self.fields = fields


class Refused(TaskError):
    """The request is valid but policy forbids it."""

    exit_code = 3


class NotFound(TaskError):
    """The record the request names does not exist."""

    exit_code = 4


class FindingsFound(TaskError):
    """audit-users found something and AUDIT_FAIL_ON_FINDINGS asked for a failing exit."""

    exit_code = 5


class InvalidInput(TaskError):
    """A required environment variable is missing or has a bad value."""

    exit_code = 64
