"""The one retry policy for every cloud call: TemporaryFailure is retried with jittered exponential backoff,
bounded in attempts and time (OPSCTL_RETRY_*), with a notice before each wait."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from opsctl.errors import TemporaryFailure
from opsctl.settings import RetryPolicy

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")


@dataclass
class Retrying:
    """`retrying("list runs", lambda: provider.active_runs(...))`: call, retrying TemporaryFailure."""

    policy: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    notice: Callable[[str], None] = lambda message: None
    sleep: Callable[[float], None] = time.sleep
    redact: Callable[[str], str] = lambda text: text

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        import tenacity  # here, not at start-up: `opsctl --help` and `--dry-run` stay quick

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            self.notice(f"{what}: {self.redact(str(exc))} — retrying in {wait:.1f}s")

        retryer = tenacity.Retrying(
            # Retried even after a stop request: giving up then would leave the task running unstopped.
            retry=tenacity.retry_if_exception_type(TemporaryFailure),
            wait=tenacity.wait_exponential_jitter(
                multiplier=self.policy.base_s, max=self.policy.max_wait_s, jitter=self.policy.base_s
            ),
            stop=tenacity.stop_after_attempt(self.policy.attempts) | tenacity.stop_after_delay(self.policy.max_s),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retryer(fn)

    def backoff(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based) of something the policy does not drive itself."""
        return float(min(self.policy.max_wait_s, self.policy.base_s * 2 ** (attempt - 1)))


def on_stderr() -> Retrying:
    """The policy for a command's own cloud calls (guards, doctor, history, wait, stop, build): notices on stderr."""

    def notice(message: str) -> None:
        sys.stderr.write(f"opsctl: {message}\n")
        sys.stderr.flush()

    return Retrying(RetryPolicy.from_env(), notice=notice)
