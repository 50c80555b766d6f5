"""Shared fixtures: an isolated state dir and environment for every test, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# One moto server and fault proxy for the whole session, shared by the provider and reliability tests.
pytest_plugins = ("tests.fakes.moto_fixtures",)

# Variables that change opsctl's behaviour and must not leak in from the developer's or CI's shell.
_LEAKY = (
    "GITHUB_ACTIONS",
    "GITHUB_ACTOR",
    "GITHUB_REF",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "OPSCTL_CONFIG",
    "OPSCTL_GCP_ENDPOINT",
    "NO_COLOR",
    "FORCE_COLOR",
    "OPSCTL_TIMING_SCALE",
    "AWS_PROFILE",
    "COLUMNS",  # tables fit $COLUMNS: a test that wants a width sets it
)


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own XDG state dir and no GitHub/opsctl variables from outside."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    yield state


@dataclass(frozen=True)
class CliResult:
    """What a real `python -m opsctl` process did."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run opsctl as a real subprocess (off a TTY, like CI) and collect its exit code and output."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "opsctl", *args],
        cwd=cwd or REPO,
        env=full_env,
        input=input or "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def start_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start opsctl as a real subprocess (off a TTY, stdin empty, output piped as text), for a test that reads it
    as it runs or signals it: `run_cli` without the wait."""
    return subprocess.Popen(
        [sys.executable, "-m", "opsctl", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
