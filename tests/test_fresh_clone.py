"""A fresh clone runs the README's two commands, verbatim, with no virtualenv active (issue 15).

What this proves, on a `git clone` of HEAD (committed files only, so a file the suite needs but git does not
track fails here) with every virtualenv taken off PATH and VIRTUAL_ENV unset:
- the quick start line, exactly as README.md has it (run by `sh -c`), creates .venv, installs the lock and
  opsctl, and runs seed-admin on the local environment, ending with the README's summary (after
  tests/readme.py's normalisation); run again, it says `WasNew  false`;
- the test line, `.venv/bin/just test`, finds ruff, mypy and pytest in the clone's .venv by itself and passes:
  ruff and mypy over the whole clone, then pytest on a narrow selection (tests/test_docs.py, chosen through
  PYTEST_ADDOPTS so that the line itself stays verbatim);
- the README's everyday install, `uv tool install -c requirements-dev.lock .` (with UV_TOOL_DIR and
  UV_TOOL_BIN_DIR in a temporary directory), gives an opsctl that runs the local task from the checkout.

What it does not prove: that the whole suite passes on a clean clone (it cannot run itself recursively).
.ci/run proves that: CI runs both lines, read from README.md, on its own fresh clone. Uncommitted changes
are not in the clone; commit before relying on this test. It installs from the package index (or pip's and
uv's caches), so it is marked slow: about two minutes with warm caches.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import readme
from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not (REPO / ".git").exists(), reason="not a git checkout: nothing to clone"),
    pytest.mark.skipif("OPSCTL_FRESH_CLONE" in os.environ, reason="already inside a fresh-clone test"),
]
PROJECT_TOOLS = ("opsctl", "ruff", "mypy", "just", "uv")


def without_virtualenvs(path: str) -> str:
    """PATH without any virtualenv's bin directory (one whose parent holds a pyvenv.cfg)."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if d and not (Path(d).parent / "pyvenv.cfg").is_file())


def fresh_env(state: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user's shell: no virtualenv, none of the project's tools on PATH."""
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS"}
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env |= {"PATH": without_virtualenvs(env["PATH"]), "XDG_STATE_HOME": str(state), "OPSCTL_FRESH_CLONE": "1"}
    for tool in PROJECT_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) is None, (
            f"{tool} is on PATH outside a virtualenv: not a fresh shell"
        )
    return env | extra


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this checkout's HEAD in a temporary directory."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    dest = tmp_path_factory.mktemp("fresh") / "opsctl"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(dest)], check=True, timeout=120)
    subprocess.run(["git", "checkout", "--quiet", head], cwd=dest, check=True, timeout=120)
    return dest


def sh(line: str, cwd: Path, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """Run one README line as a user's shell would."""
    return subprocess.run(
        ["sh", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_readme_two_commands_work_verbatim_on_a_fresh_clone(clone: Path, isolated: Path) -> None:
    env = fresh_env(isolated)
    quickstart = readme.marked_command("quickstart", clone)
    first = sh(quickstart, clone, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # pip speaks first on stdout; the run's summary ends it.
    summary = readme.normalise(readme.quickstart_summary(clone))
    assert readme.normalise(first.stdout, isolated).endswith(summary), first.stdout[-2000:]

    again = sh(quickstart, clone, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "\nWasNew       false\n" in again.stdout

    tests = readme.marked_command("tests", clone)
    extra = {"PYTEST_ADDOPTS": "tests/test_docs.py -p no:cacheprovider"}
    # The analysers run as written; checkov (its own 300 MB venv) is borrowed from this checkout when present.
    parent_checkov = Path(__file__).resolve().parents[1] / ".venv" / "checkov" / "bin" / "checkov"
    if parent_checkov.is_file():
        extra["CHECKOV"] = str(parent_checkov)
    checked = sh(tests, clone, env | extra)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output[-5000:]
    assert "All checks passed!" in output and "files already formatted" in output  # ruff check, ruff format
    assert "Success: no issues found" in output  # mypy
    assert " passed" in output and " failed" not in output and " error" not in output  # pytest


def test_uv_tool_install_from_the_checkout_gives_a_working_opsctl(clone: Path, isolated: Path, tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None, "uv is a dev dependency (pyproject.toml)"
    (tmp_path / "uv-only").mkdir()
    (tmp_path / "uv-only" / "uv").symlink_to(uv)
    line = next(
        " ".join(argv)
        for block in readme.blocks(clone)
        if block.lang == "sh"
        for argv in (shlex.split(text, comments=True) for text in block.lines)
        if argv[:3] == ["uv", "tool", "install"]
    )
    assert line == "uv tool install -c requirements-dev.lock ."
    env = fresh_env(
        isolated,
        UV_TOOL_DIR=str(tmp_path / "tools"),
        UV_TOOL_BIN_DIR=str(tmp_path / "bin"),
        UV_PYTHON_DOWNLOADS="never",
    )
    env["PATH"] = f"{tmp_path / 'uv-only'}{os.pathsep}{env['PATH']}"
    installed = sh(line, clone, env, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    opsctl = tmp_path / "bin" / "opsctl"
    version = subprocess.run([opsctl, "--version"], capture_output=True, text=True, env=env, timeout=60, check=False)
    project = tomllib.loads((clone / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert version.stdout == f"opsctl {project['version']}\n", version.stderr
    ran = subprocess.run(
        [opsctl, "run", "local", "seed-admin", "--email", "tool@example.com"],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "\nStatus       succeeded\n" in ran.stdout and "\nEmail        tool@example.com\n" in ran.stdout
