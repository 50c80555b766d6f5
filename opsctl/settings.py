"""Settings read from the environment (OPSCTL_RETRY_*, OPSCTL_TIMING_SCALE), checked before any cloud call."""

from __future__ import annotations

import os
from dataclasses import dataclass

from opsctl.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for TemporaryFailure: exponential with jitter, bounded in attempts and time."""

    base_s: float = 0.5
    max_wait_s: float = 8.0
    max_s: float = 60.0
    attempts: int = 12

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Read OPSCTL_RETRY_BASE_S, OPSCTL_RETRY_WAIT_MAX_S, OPSCTL_RETRY_MAX_S, OPSCTL_RETRY_ATTEMPTS."""
        env, default = os.environ, cls()
        try:
            policy = cls(
                base_s=float(env.get("OPSCTL_RETRY_BASE_S", default.base_s)),
                max_wait_s=float(env.get("OPSCTL_RETRY_WAIT_MAX_S", default.max_wait_s)),
                max_s=float(env.get("OPSCTL_RETRY_MAX_S", default.max_s)),
                attempts=int(env.get("OPSCTL_RETRY_ATTEMPTS", default.attempts)),
            )
        except ValueError as e:
            raise ConfigError(f"OPSCTL_RETRY_*: {e}") from None
        if min(policy.base_s, policy.max_wait_s, policy.max_s) < 0 or policy.attempts < 1:
            raise ConfigError("OPSCTL_RETRY_*: times must not be negative and OPSCTL_RETRY_ATTEMPTS at least 1")
        return policy


def timing_scale() -> float:
    """OPSCTL_TIMING_SCALE: multiplies every poll interval (emulators and tests run faster)."""
    try:
        scale = float(os.environ.get("OPSCTL_TIMING_SCALE", "1") or 1)
    except ValueError:
        raise ConfigError("OPSCTL_TIMING_SCALE must be a number, e.g. 0.1") from None
    if not 0 < scale <= 100:
        raise ConfigError("OPSCTL_TIMING_SCALE must be a number above 0 and at most 100, e.g. 0.1")
    return scale
