"""The OpsctlError tree: every failure a user can see, each with its exit code (DESIGN.md §5)."""

from __future__ import annotations

from typing import ClassVar

EXIT_CHECKS_FAILED = 1  # `opsctl doctor` only (no task runs there): one or more checks failed
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70
EXIT_TEMPFAIL = 75
EXIT_REFUSED = 77
EXIT_CONFIG = 78
EXIT_TIMEOUT = 124
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

# Exit codes opsctl itself uses; a task exit code equal to one of these is still passed through,
# and the summary says which it was.
RESERVED_EXIT_CODES: dict[int, str] = {
    EXIT_USAGE: "usage error",
    EXIT_UNAVAILABLE: "could not launch / no exit code",
    EXIT_INTERNAL: "internal error",
    EXIT_TEMPFAIL: "temporary failure",
    EXIT_REFUSED: "refused",
    EXIT_CONFIG: "configuration error",
    EXIT_TIMEOUT: "timeout",
    EXIT_SIGINT: "interrupted",
    EXIT_SIGTERM: "terminated",
}


class OpsctlError(Exception):
    """Base of every error opsctl reports to a user as one line."""

    exit_code: ClassVar[int] = EXIT_INTERNAL


class UsageError(OpsctlError):
    """Bad flag, unknown env/task, invalid parameter value: nothing was launched."""

    exit_code = EXIT_USAGE


class LaunchError(OpsctlError):
    """Could not launch, the task stopped without an exit code, or the target was not found."""

    exit_code = EXIT_UNAVAILABLE


class NotFound(LaunchError):
    """A cluster, job, task definition or run does not exist."""


class TemporaryFailure(OpsctlError):
    """Throttled or unreachable after retries."""

    exit_code = EXIT_TEMPFAIL


class NotStarted(TemporaryFailure):
    """Certainly nothing started, for a reason that may pass (no capacity): launch again, with a new token."""


class Refused(OpsctlError):
    """Protected env without confirmation, branch lock, concurrent run, permission denied."""

    exit_code = EXIT_REFUSED


class PermissionDenied(Refused):
    """The cloud said no: credentials lack a permission (the message names it)."""


class ConfigError(OpsctlError):
    """`opsctl.toml` is missing, unreadable or wrong; the message names the file and dotted key."""

    exit_code = EXIT_CONFIG
