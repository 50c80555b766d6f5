"""`--tasks N` / `--parallelism K`: how many copies of a task one run starts, checked before any cloud call."""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsctl.errors import UsageError

# The most copies one run may have, per provider, and why:
# - cloudrun: a job execution's task_count is at most 10,000 (cloud.google.com/run/docs/create-jobs#task-count).
# - ecs: one RunTask per copy (a call's overrides apply to every task it starts, so only count = 1 gives each copy
#   its own OPSCTL_TASK_INDEX) and one GetLogEvents per copy per log read, against ~10 calls/s of quota.
# - local: processes on this machine.
MAX_TASKS = {"local": 100, "ecs": 20, "cloudrun": 10_000}

# Where --parallelism K is the provider's to honour: local runs K at a time; Cloud Run cannot override a job's
# parallelism per execution (RunJobRequest.Overrides has task_count and timeout only), so K must match the job's
# own, capped at N; ECS has no such setting (every RunTask starts at once).
PARALLELISM = {"local", "cloudrun"}


@dataclass(frozen=True, slots=True)
class Fanout:
    """N copies, at most K at a time (None: all at once)."""

    tasks: int = 1
    parallelism: int | None = None


# Plain ASCII digits only: int() would also take '+3', ' 3 ', '3_0' (30) and other scripts' digits ('٣', '３'),
# none of which an operator means as a count of copies. More digits than this is past every limit anyway.
_DIGITS = re.compile(r"0*[0-9]{1,9}")


def _count(flag: str, text: str) -> int:
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        raise UsageError(f"{flag}: {text} is not a positive number of copies")
    if not _DIGITS.fullmatch(text):
        if text.isascii() and text.isdigit():
            raise UsageError(f"{flag}: a number of {len(text):,} digits is more copies than any provider runs")
        shown = text if len(text) <= 20 else f"{text[:20]}…"
        raise UsageError(f"{flag}: {shown!r} is not a whole number (digits 0-9 only)")
    value = int(text)
    if value < 1:
        raise UsageError(f"{flag}: {value} is not a positive number of copies")
    return value


def parse(provider: str, tasks: str | None, parallelism: str | None) -> Fanout:
    """--tasks / --parallelism as given, checked against what `provider` can run."""
    n = 1 if tasks is None else _count("--tasks", tasks)
    limit = MAX_TASKS[provider]
    if n > limit:
        raise UsageError(f"--tasks: at most {limit:,} copies on {provider} (got {n:,})")
    if parallelism is None:
        return Fanout(n)
    if tasks is None:
        raise UsageError("--parallelism only means something with --tasks N")
    k = _count("--parallelism", parallelism)
    if provider not in PARALLELISM:
        raise UsageError(
            f"--parallelism: {provider} has no parallelism of its own (every copy starts at once); "
            "run fewer --tasks, or leave --parallelism out"
        )
    if k > n:
        raise UsageError(f"--parallelism: {k} is more than the {n} copies of --tasks")
    return Fanout(n, k)


def copy_env(index: int, count: int) -> dict[str, str]:
    """The env vars that tell copy `index` of `count` who it is (ECS and local; Cloud Run sets its own)."""
    return {"OPSCTL_TASK_INDEX": str(index), "OPSCTL_TASK_COUNT": str(count)}
