"""What every action gets besides the database: who asked, where to talk, and how to audit."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from admin_task.db import Db, new_id

AUDIT_VARS = ("OPSCTL_ACTOR", "OPSCTL_RUN_ID", "OPSCTL_ORIGIN", "OPSCTL_ENV", "OPSCTL_TASK")


@dataclass
class Output:
    """stderr for people, one JSON line on stdout for opsctl; known secrets are masked in both."""

    secrets: set[str] = field(default_factory=set)

    def hide(self, value: str) -> None:
        """Mask `value` in everything printed from now on."""
        if value:
            self.secrets.add(value)

    def scrub(self, text: str) -> str:
        """`text` with every known secret replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def say(self, message: str) -> None:
        """A human message on stderr."""
        print(self.scrub(message), file=sys.stderr, flush=True)

    def result(self, payload: Mapping[str, object]) -> None:
        """The single result line on stdout."""
        print(self.scrub(json.dumps(payload, ensure_ascii=False)), flush=True)


@dataclass
class Context:
    """The audit identity of this run (injected by opsctl) plus the output channel."""

    action: str
    actor: str
    run_id: str
    origin: str
    env: str
    task: str
    out: Output
    _last: datetime | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], action: str, out: Output) -> Context:
        """Read the OPSCTL_* audit context; anything absent is `unknown`."""
        actor, run_id, origin, env_name, task = (env.get(name) or "unknown" for name in AUDIT_VARS)
        return cls(action, actor, run_id, origin, env_name, task, out)

    def now(self) -> str:
        """The current UTC time, strictly increasing within this run."""
        now = datetime.now(UTC)
        # Audit chains are read back ordered by timestamp, so two rows must never share one.
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now.isoformat()

    def say(self, message: str) -> None:
        """A human message on stderr."""
        self.out.say(message)

    def audit(self, db: Db, event_type: str, resource_type: str, resource_id: str | None, **metadata: object) -> None:
        """Write one audit_events row carrying the actor, run id and origin."""
        meta = {
            "actor": self.actor,
            "run_id": self.run_id,
            "origin": self.origin,
            "env": self.env,
            "task": self.task,
            "action": self.action,
            **metadata,
        }
        db.execute(
            "INSERT INTO audit_events"
            " (id, event_type, resource_type, resource_id, actor, run_id, origin, metadata, timestamp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                event_type,
                resource_type,
                resource_id,
                self.actor,
                self.run_id,
                self.origin,
                json.dumps(meta, sort_keys=True),
                self.now(),
            ),
        )
