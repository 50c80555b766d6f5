"""Which copy of a fanned-out run this is (`opsctl run ENV TASK --tasks N`), and which users it owns."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from admin_task.errors import InvalidInput

# opsctl sets the first pair on ECS and local; Cloud Run sets the second itself, and an execution's env
# overrides are the same for every copy, so opsctl cannot set a per-copy OPSCTL_TASK_INDEX there.
SOURCES = (("OPSCTL_TASK_INDEX", "OPSCTL_TASK_COUNT"), ("CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"))
# Plain ASCII digits: int() would also take " 3", "+3", "1_0" and non-ASCII digits.
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Shard:
    """Copy `index` of `count`."""

    index: int
    count: int

    def owns(self, user_id: str) -> bool:
        """Whether this copy examines the user: crc32 is the same on every engine, machine and Python run."""
        return zlib.crc32(user_id.encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index} of {self.count}"


def from_env(env: Mapping[str, str]) -> Shard:
    """The copy named by OPSCTL_TASK_*, else CLOUD_RUN_TASK_*, else 0 of 1; both present must agree."""
    found = [(names, shard) for names in SOURCES if (shard := _read(env, *names)) is not None]
    if not found:
        return Shard(0, 1)
    (first_names, first), *rest = found
    for names, other in rest:
        if other != first:
            raise InvalidInput(
                f"{'/'.join(first_names)} say copy {first} but {'/'.join(names)} say copy {other}; "
                "refusing to guess which users this copy owns"
            )
    return first


def _read(env: Mapping[str, str], index_name: str, count_name: str) -> Shard | None:
    index_raw, count_raw = env.get(index_name, ""), env.get(count_name, "")
    if not index_raw and not count_raw:
        return None
    if not index_raw or not count_raw:
        present, absent = (index_name, count_name) if index_raw else (count_name, index_name)
        raise InvalidInput(f"{present} is set but {absent} is not; set both or neither")
    index, count = _whole(index_name, index_raw), _whole(count_name, count_raw)
    if count < 1:
        raise InvalidInput(f"{count_name} must be at least 1 (got {count})")
    if index >= count:
        raise InvalidInput(f"{index_name} must be below {count_name} ({count}): 0 to {count - 1} (got {index})")
    return Shard(index, count)


def _whole(name: str, raw: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise InvalidInput(f"{name} must be a whole number of 0 or more (got {raw!r})")
    return int(raw)
