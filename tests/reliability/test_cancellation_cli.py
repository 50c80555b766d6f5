"""Cancellation of a real `opsctl run` process: os.kill(SIGINT / SIGTERM) at random delays, as a terminal or
a cancelled CI job delivers them (the in-process trials of every provider are in test_cancellation.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.conftest import Report
from tests.reliability.leaks import Channels, describe
from tests.reliability.plays import SECRETS, alive, local_orphans

SUBPROCESS_TRIALS = 3  # per signal and kind of moment (x --soak)
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}

SLEEPER_TOML = """\
[environments.dev]
provider = "local"
workdir = "@WORKDIR@"

[tasks.sleeper]
help = "Prints its secret (opsctl masks it), then works until stopped"
command = ["{python}", "sleeper.py"]
env = { ADMIN_PASSWORD = "{password}", PIDFILE = "@WORKDIR@/{run_id}.pid" }

[tasks.sleeper.params.password]
type = "secret"
"""

SLEEPER = """\
import os, time
with open(os.environ["PIDFILE"], "w") as f:
    f.write(str(os.getpid()))
print("task up", flush=True)
print("password " + os.environ["ADMIN_PASSWORD"], flush=True)
i = 0
while True:
    print(f"working {i}", flush=True)
    i += 1
    time.sleep(0.05)
"""


@dataclass
class Process:
    """A real `python -m opsctl run` and what it wrote on stderr so far."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.up = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("task up"):
                self.up.set()

    def finish(self) -> tuple[int, str, str]:
        out, _ = self.proc.communicate(timeout=120)
        self._reader.join(timeout=30)
        return self.proc.returncode, out, "".join(self.lines)


def test_local_cancellation_of_a_real_opsctl_process(
    tmp_path: Path, seed: int, soak: int, report: Report, isolated: Path
) -> None:
    """os.kill(SIGINT / SIGTERM) to `python -m opsctl run local …` at random delays: right after start (perhaps
    before opsctl has even launched anything) or while the task runs. A process killed before opsctl took over
    its signals exits by the signal (-2 / -15) with nothing launched; otherwise 130 / 143, the task gone."""
    rng = random.Random(seed)
    (tmp_path / "opsctl.toml").write_text(SLEEPER_TOML.replace("@WORKDIR@", str(tmp_path)), encoding="utf-8")
    (tmp_path / "sleeper.py").write_text(SLEEPER, encoding="utf-8")
    cases = [
        (signum, when)
        for signum in (signal.SIGINT, signal.SIGTERM)
        for when in ("early", "running") * SUBPROCESS_TRIALS * soak
    ][: 2 * 2 * SUBPROCESS_TRIALS * soak]
    rng.shuffle(cases)
    problems, outcomes, tracebacks = [], Counter[str](), 0
    channels = Channels()
    secrets = set()
    for i, (signum, when) in enumerate(cases):
        secret = rng.choice(SECRETS) + f"-{i}"
        secrets.add(secret)
        before = set(tmp_path.glob("*.pid"))
        env = {**os.environ, "OPSCTL_PARAM_PASSWORD": secret, "OPSCTL_TIMING_SCALE": "1"}
        running = Process(
            subprocess.Popen(
                [sys.executable, "-m", "opsctl", "--config", str(tmp_path / "opsctl.toml"), "run", "dev", "sleeper"],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        if when == "early":
            time.sleep(rng.uniform(0.05, 0.6))
        else:
            assert running.up.wait(60), "".join(running.lines)
            time.sleep(rng.uniform(0.0, 0.3))
        running.proc.send_signal(signum)
        code, out, err = running.finish()
        channels.add("stdout", out)
        channels.add("stderr", err)
        pidfiles = set(tmp_path.glob("*.pid")) - before
        launched = bool(pidfiles) or "launched run" in err
        name = f"{signal.Signals(signum).name} {when}"
        expected = {EXIT[signum]} if launched else {EXIT[signum], -signum}
        outcomes[f"{name} → {code}{'' if launched else ' (nothing launched)'}"] += 1
        if code not in expected:
            problems.append(f"{name}: exit {code}, expected one of {sorted(expected)}; stderr {err[-300:]!r}")
        if launched and code in expected and "Traceback" in err:
            problems.append(f"{name}: a traceback: {err[-300:]!r}")
        tracebacks += "Traceback" in err
        for pidfile in pidfiles:
            if alive(int(pidfile.read_text() or 0)):
                problems.append(f"{name}: the task (pid {pidfile.read_text()}) is still running")
    orphans = local_orphans(isolated / "opsctl" / "local-runs", tmp_path)
    channels.add_state(isolated)
    leaks = channels.leaks(secrets)
    report(
        f"cancellation: local via `python -m opsctl run` {len(cases)} trials, {len(problems)} wrong outcomes, "
        f"{len(orphans)} orphan processes, {len(leaks)} secret leaks; {dict(outcomes)}; "
        f"{tracebacks} Python tracebacks (a signal during interpreter start-up)"
    )
    assert not problems, "\n".join(problems)
    assert not orphans, orphans
    assert not leaks, describe(leaks)
