"""The cancel token under real signals, in real processes: a signal at any instant of the runner's sleep is
recorded and ends the sleep, never deadlocks it; and a signal the kernel hands to another thread (gRPC has
several) still ends the sleep at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO

# Sleeps as the runner's loop does (tiny ones hit every instant of wait()), until a SIGINT says enough.
SLEEPER = """
import signal, sys
from opsctl.cancel import CancelToken, cancel_on_signals
token = CancelToken()
with cancel_on_signals(token):
    print("ready", flush=True)
    while signal.SIGINT not in token.signals:
        token.wait(float(sys.argv[1]))
print(token.signals.count(signal.SIGTERM), flush=True)
"""

# One long sleep; a worker thread signals itself, so the handler's C half runs in that thread, not in main.
OTHER_THREAD = """
import signal, threading, time
from opsctl.cancel import CancelToken, cancel_on_signals
token = CancelToken()
with cancel_on_signals(token):
    def worker():
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        time.sleep(3600)
    threading.Thread(target=worker, daemon=True).start()
    token.wait(3600)
print(token.signals, flush=True)
"""


def python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_storm_of_signals_during_the_runners_sleeps_never_deadlocks_it() -> None:
    # A handler runs between two bytecodes of the main thread; with a threading.Event inside the token, a signal
    # landing while Event.wait held the Event's lock hung the process for good (CI: `opsctl run` ignored SIGTERM
    # for 60 s with its task running). Thousands of signals cover every instant of a sleep, for each length.
    for sleep in ("0", "0.00001", "0.001"):
        proc = python(SLEEPER, sleep)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(3000):
            os.kill(proc.pid, signal.SIGTERM)
            time.sleep(0.0001)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"sleeping {sleep}s at a time, the process stopped answering signals: {err[-2000:]}"
            ) from None
        assert proc.returncode == 0, err[-2000:]
        assert int(out) > 0  # the SIGTERMs were recorded (standard signals coalesce, so not necessarily all)


def test_a_signal_delivered_to_another_thread_ends_the_sleep_at_once() -> None:
    proc = python(OTHER_THREAD)
    try:
        out, err = proc.communicate(timeout=60)  # the sleep asked for an hour
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("a SIGTERM taken by another thread did not end the main thread's sleep") from None
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == f"[{int(signal.SIGTERM)}]"


def test_one_token_shared_by_threads_sleeps_in_each_of_them() -> None:
    # request() may come from any thread, and a library user may share one token among runners in threads (to
    # stop them all at once): their sleeps overlap. One poll object shared by every wait() made all but the first
    # raise "RuntimeError: concurrent poll() invocation" (a threading.Event never did).
    import threading

    from opsctl.cancel import CancelToken

    token = CancelToken()
    errors: list[BaseException] = []

    def sleep() -> None:
        try:
            token.wait(0.3)
        except BaseException as e:  # any failure of a sleep is the finding
            errors.append(e)

    threads = [threading.Thread(target=sleep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
