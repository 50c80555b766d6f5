"""Launching a run exactly once, through faults that leave it unknown whether a launch took effect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from opsctl.cancel import CancelToken
from opsctl.errors import NotFound, NotStarted, OpsctlError, TemporaryFailure, UsageError
from opsctl.model import RunRef, RunSpec, Timing
from opsctl.providers import Provider
from opsctl.retry import Retrying
from opsctl.untrusted import visible


class Notices(Protocol):
    """Where launch notices go (the runner's observer)."""

    def notice(self, message: str) -> None:
        """Something the operator should know."""


@dataclass
class Launch:
    """`once()` launches; after a failure that may have started a run, it looks for that run (for the provider's
    find window: a listing can lag the launch) before trying again, and adopts it when found. If a retried
    launch went ahead, `reconcile()` later cancels a duplicate carrying the same run id."""

    provider: Provider
    spec: RunSpec
    observer: Notices
    call: Retrying
    timing: Timing
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    cancel: CancelToken
    ambiguous: bool = False  # a launch attempt failed in a way that may have started a run
    recheck_at: float | None = None  # when to look for a duplicate (clock time), if a launch was ambiguous

    def once(self) -> RunRef:
        """The run's ref: launched, or found after an ambiguous failure."""

        def attempt() -> RunRef:
            if self.ambiguous:
                found = self._look_for_run()  # its own retries: a flaky lookup must not use up the launch's
                if found is not None:
                    return found
            try:
                return self.provider.launch(self.spec)
            except NotStarted:
                # Nothing started (no capacity): the next attempt is a new launch, with a new token.
                self.spec = replace(self.spec, launch_round=self.spec.launch_round + 1)
                raise
            except TemporaryFailure:
                self.ambiguous = True
                raise

        try:
            ref = self.call("launch", attempt)
        except TemporaryFailure:
            # The last attempt may have started a run we never heard back about: look once more.
            try:
                found = self.provider.find_run(self.spec)
            except OpsctlError:
                found = None
            if found is None:
                self._call_off()
                raise
            return found
        if self.ambiguous and self.timing.find_window_s > 0:
            # An earlier attempt may still take effect after this one did: check again once the window passed.
            self.recheck_at = self.clock() + self.timing.find_window_s
        return ref

    def _call_off(self) -> None:
        """A fanned-out launch that gave up may have started some of its copies (ECS: one call per copy): stop
        them, as a run is all its copies or none. The run id names such a run (FANOUT.md); where it does not (one
        call launches every copy: nothing started), the provider refuses it and there is nothing to stop."""
        if self.spec.tasks <= 1:
            return
        run_id = self.spec.run_id
        try:
            ref = self.provider.ref(run_id)
            self.call("stop", lambda: self.provider.stop(ref, f"opsctl: the launch of run {run_id} gave up"))
        except (NotFound, UsageError):
            return  # no run by that name: nothing started
        except OpsctlError as e:
            self.observer.notice(
                f"could not stop what the launch of run {run_id} started ({visible(str(e))}); check with: "
                f"opsctl stop {self.spec.env} {run_id}"
            )
            return
        self.observer.notice(f"the launch of run {run_id} gave up: its copies that started were stopped")

    def again(self) -> RunRef:
        """Launch anew after the run started nothing (it never ran: no capacity)."""
        self.spec = replace(self.spec, launch_round=self.spec.launch_round + 1)
        return self.once()

    def _look_for_run(self) -> RunRef | None:
        """find_run until it answers or the find window has passed (bounded, cancellable)."""
        deadline = self.clock() + self.timing.find_window_s
        while True:
            found = self.call("find the run", lambda: self.provider.find_run(self.spec))
            if found is not None or self.clock() >= deadline or self.cancel.requested:
                return found
            self.sleep(max(0.0, min(self.timing.fast_poll_s, deadline - self.clock())))

    def reconcile(self, ref: RunRef, stop: Callable[[RunRef, str], None]) -> None:
        """Cancel any other run carrying this run's OPSCTL_RUN_ID (an ambiguous launch that took effect late)."""
        self.recheck_at = None
        try:
            others = self.call("look for a duplicate run", lambda: self.provider.duplicates(self.spec, ref))
        except OpsctlError as e:
            self.observer.notice(f"could not check for a duplicate of run {ref.id}: {visible(str(e))}")
            return
        for other in others:
            self.observer.notice(
                f"run {other.id} also carries OPSCTL_RUN_ID {self.spec.run_id} (a retried launch whose first "
                f"attempt took effect late started it); cancelling it — run {ref.id} is the one reported here"
            )
            stop(other, f"duplicate of run {ref.id} (same OPSCTL_RUN_ID), cancelled by opsctl")
