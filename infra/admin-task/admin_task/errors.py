"""The admin task's error tree; each class carries its exit code."""


class TaskError(Exception):
    """An expected failure, reported as `{"ok": false}` with this exit code."""

    exit_code = 1


class Refused(TaskError):
    """The request is valid but policy forbids it."""

    exit_code = 3


class NotFound(TaskError):
    """The record the request names does not exist."""

    exit_code = 4


class InvalidInput(TaskError):
    """A required environment variable is missing or has a bad value."""

    exit_code = 64
