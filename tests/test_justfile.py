"""The justfile's operator recipes, run by the real `just` (from PyPI rust-just) against the local provider.

Every recipe here runs with no virtualenv active or on PATH, as after the README's quick start: the justfile
must find opsctl and the project's tools in the checkout's .venv by itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

JUST = shutil.which("just", path=str(Path(sys.executable).parent)) or shutil.which("just")
VENV_BIN = REPO / ".venv" / "bin"
pytestmark = [
    pytest.mark.skipif(JUST is None, reason="just is not installed (pip install rust-just)"),
    pytest.mark.skipif(
        not (VENV_BIN / "opsctl").exists(), reason="no .venv in the checkout (see README's quick start)"
    ),
]
TOOLS = ("opsctl", "python", "ruff", "mypy", "pytest", "uv", "just")


def without_virtualenvs(path: str) -> str:
    """PATH without any virtualenv's bin directory (one whose parent holds a pyvenv.cfg)."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if d and not (Path(d).parent / "pyvenv.cfg").is_file())


def just(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert JUST is not None
    outside = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(
        [JUST, "--justfile", str(REPO / "justfile"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**outside, "PATH": without_virtualenvs(os.environ["PATH"]), **(env or {})},
        timeout=120,
        check=False,
    )


def test_recipes_find_the_projects_own_tools_with_no_virtualenv_on_path() -> None:
    found = just("--command", "bash", "-c", f"command -v {' '.join(TOOLS)}")
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [str(VENV_BIN / tool) for tool in TOOLS]


def test_default_recipe_lists_the_recipes_with_no_just_on_path() -> None:
    listed = just()
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("Available recipes:") and "seed-admin env email" in listed.stdout


def test_ba_dry_run_plans_the_reference_image_for_the_shipped_staging(tmp_path: Path) -> None:
    planned = just("ba", "staging", "--dry-run", "--tag", "t1")
    assert planned.returncode == 0, planned.stderr
    dockerfile = REPO / "infra" / "admin-task" / "Dockerfile"
    assert dockerfile.is_file()
    image = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/clinloop-admin:t1"
    assert (
        f"build target 'admin': docker build --target admin --file {dockerfile} --tag {image} {dockerfile.parent}\n"
        in planned.stderr
    )
    assert planned.stderr.endswith("opsctl: dry run: nothing was built, pushed or changed\n")


def test_cs_up_ar_run_non_interactively_on_local(tmp_path: Path) -> None:
    env = {"OPSCTL_CONFIG": str(tmp_path / "opsctl.toml"), "OPSCTL_PARAM_PASSWORD": "long-enough-password"}
    text = (REPO / "opsctl.toml").read_text(encoding="utf-8")
    text = text.replace('workdir = "infra/admin-task"', f'workdir = "{REPO / "infra" / "admin-task"}"')
    (tmp_path / "opsctl.toml").write_text(
        text.replace("sqlite:///.opsctl/local.db", f"sqlite:///{tmp_path}/db"), encoding="utf-8"
    )
    cs = just("cs", "local", "--username", "ada", "--email", "ada@example.com", env=env)
    assert cs.returncode == 0, cs.stderr
    assert re.search(r"^Status +succeeded$", cs.stdout, re.M) and "long-enough-password" not in cs.stdout + cs.stderr
    up = just("up", "local", "--username", "ada", "--level", "admin", env=env)
    assert up.returncode == 0, up.stderr
    roles = just("seed-roles", env=env)  # not a recipe: just refuses, and says so
    assert roles.returncode != 0
    ar = just("ar", "local", "--username", "ada", "--role", "Clinician", env=env)
    assert ar.returncode == 0, ar.stderr
    seeded = just("seed-admin", "local", "bob@example.com", env=env)
    assert seeded.returncode == 0 and re.search(r"^Email +bob@example.com$", seeded.stdout, re.M)
