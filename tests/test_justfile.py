"""The justfile's operator recipes, run by the real `just` (from PyPI rust-just) against the local provider."""

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
pytestmark = pytest.mark.skipif(JUST is None, reason="just is not installed (pip install rust-just)")


def just(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert JUST is not None
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        [JUST, "--justfile", str(REPO / "justfile"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, **(env or {})},
        timeout=120,
        check=False,
    )


def test_list_documents_the_recipes_and_aliases() -> None:
    out = just("--list")
    assert out.returncode == 0
    for recipe, alias in (
        ("create-superadmin", "cs"),
        ("update-permissions-remote", "up"),
        ("add-role-remote", "ar"),
        ("build-admin", "ba"),
    ):
        line = next(line for line in out.stdout.splitlines() if line.strip().startswith(recipe))
        assert f"[alias: {alias}]" in line and "#" in line
    assert "seed-admin env email" in out.stdout and "test *args" in out.stdout


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
