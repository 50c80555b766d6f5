"""The composite action and the example workflows: their shape, and the params → argv step in real bash."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / "infra" / "github").glob("*.yml"))


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (pyyaml) reads the bare key `on` as the boolean true.
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict)
    return value


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"]["steps"])
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def run_step() -> dict[str, Any]:
    steps: list[dict[str, Any]] = load(REPO / "action.yml")["runs"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "run"]
    return step


def test_action_is_composite_with_the_documented_inputs_and_outputs() -> None:
    action = load(REPO / "action.yml")
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {
        *("environment", "task", "params", "config", "timeout", "tasks", "parallelism", "confirm"),
        "working-directory",
    }
    assert inputs["environment"]["required"] is True and inputs["task"]["required"] is True
    assert {name: o["value"] for name, o in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}"
        for name in ("exit-code", "run", "status", "result", "failed-copies")
    }
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "Install opsctl")
    assert install["env"]["OPSCTL_ACTION_PATH"] == "${{ github.action_path }}"
    assert install["env"]["OPSCTL_HOME"].startswith("${{ runner.temp }}")
    assert install["run"].startswith('echo "::group::Install opsctl"')
    assert install["run"].rstrip().endswith('echo "::endgroup::"')
    step = run_step()
    assert step["working-directory"] == "${{ inputs.working-directory }}"
    assert re.search(r"^\s*exec opsctl .* run ", step["run"], re.MULTILINE)
    assert all(value == f"${{{{ inputs.{name} }}}}" for name, value in _inputs_env(step).items())


def _inputs_env(step: dict[str, Any]) -> dict[str, str]:
    return {k.removeprefix("OPSCTL_ACTION_").lower(): v for k, v in step["env"].items()}


@pytest.mark.parametrize("path", [REPO / "action.yml", *WORKFLOWS], ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_script(path: Path) -> None:
    scripts = [step["run"] for step in steps_of(load(path)) if "run" in step]
    assert scripts
    for script in scripts:
        assert "${{" not in script, f"{path.name}: pass values through env:, not ${{{{ … }}}} in run:"
        if "opsctl" in script and "--version" not in script:
            assert re.search(r"^\s*exec opsctl ", script, re.MULTILINE), "exec opsctl, so it gets the signals"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_are_guarded_and_use_oidc(path: Path) -> None:
    workflow = load(path)
    assert list(triggers(workflow)) == ["workflow_dispatch"]
    # Issue 16: nothing at workflow level; the OIDC token only for the job that assumes the cloud role.
    assert workflow["permissions"] == {}
    assert isinstance(workflow["concurrency"], str) and workflow["concurrency"]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert job["if"] == "github.ref == 'refs/heads/main'"
    (opsctl,) = [s for s in job["steps"] if s.get("uses") == "./"]
    backstop = job["steps"][-1]
    assert backstop["if"] == f"cancelled() && steps.{opsctl['id']}.outputs.run != ''"
    assert backstop["env"] == {"RUN": f"${{{{ steps.{opsctl['id']}.outputs.run }}}}"}
    assert backstop["run"] == f'exec opsctl stop {opsctl["with"]["environment"]} "$RUN"'


def test_seed_staging_admin_rebuilds_seed_000() -> None:
    workflow = load(REPO / "infra" / "github" / "seed-staging-admin.yml")
    email = triggers(workflow)["workflow_dispatch"]["inputs"]["email"]
    assert email["required"] is True and email["type"] == "string"
    assert workflow["concurrency"] == "seed-admin-staging"
    job = workflow["jobs"]["seed"]
    assert job["environment"] == "staging"
    aws = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
    assert set(aws["with"]) == {"role-to-assume", "aws-region"}
    seed = next(s for s in job["steps"] if s.get("uses") == "./")
    assert seed["with"] == {"environment": "staging", "task": "seed-admin"}
    assert seed["env"] == {"OPSCTL_PARAM_EMAIL": "${{ inputs.email }}"}
    text = (REPO / "infra" / "github" / "seed-staging-admin.yml").read_text(encoding="utf-8")
    assert "repo:ORG/REPO:environment:staging" in text and "FIRST" in text


def test_cloudrun_workflow_confirms_prod_and_takes_the_password_from_a_secret() -> None:
    workflow = load(REPO / "infra" / "github" / "cloudrun-create-superadmin.yml")
    job = workflow["jobs"]["create"]
    auth = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@"))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    step = next(s for s in job["steps"] if s.get("uses") == "./")
    assert step["with"]["task"] == "create-superadmin"
    assert step["with"]["environment"] == step["with"]["confirm"] == "prod"
    assert step["env"]["OPSCTL_PARAM_PASSWORD"].startswith("${{ secrets.")
    assert all("password" not in str(v).lower() for v in step["with"].values())


@pytest.fixture
def fake_opsctl(tmp_path: Path) -> Path:
    """An `opsctl` on PATH that records its argv as JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "opsctl"
    exe.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "open(os.environ['ARGV_OUT'], 'w').write(json.dumps(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    exe.chmod(0o755)
    return bin_dir


def run_action_script(tmp_path: Path, fake_opsctl: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """The action's `opsctl run` step, run by bash exactly as the runner does (`shell: bash`)."""
    script = tmp_path / "run.sh"
    script.write_text(run_step()["run"], encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    out = tmp_path / "argv.json"
    env = {
        "PATH": f"{fake_opsctl}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "ARGV_OUT": str(out),
        **{
            f"OPSCTL_ACTION_{k.upper()}": inputs.get(k, "")
            for k in ("environment", "task", "params", "config", "timeout", "tasks", "parallelism", "confirm")
        },
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    argv = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return proc, argv


def test_params_become_one_argument_each_with_no_shell_expansion(tmp_path: Path, fake_opsctl: Path) -> None:
    params = (
        "email=ada@example.com\n"
        "  name=Ada Lovelace  \n"
        'quote=it\'s "quoted" \\n\n'
        "cmd=$(touch pwned1) `touch pwned2` ${HOME} $HOME\n"
        "\n"
        "   \r\n"
        "equals=a=b=c\n"
        "glob=*\n"
        "semi=x; touch pwned3 && echo hi | cat\n"
        "flag=--yes --confirm prod\n"
        "crlf=value\r\n"
        "last=no newline at the end"
    )
    proc, argv = run_action_script(
        tmp_path,
        fake_opsctl,
        environment="$(touch pwned4)",
        task="seed admin",
        params=params,
        config="my config/opsctl.toml",
        timeout="15m",
        tasks="4",
        parallelism="2; touch pwned5",
        confirm="prod",
    )
    assert proc.returncode == 0, proc.stderr
    assert argv == [
        "--config",
        "my config/opsctl.toml",
        "run",
        "$(touch pwned4)",
        "seed admin",
        *("--param", "email=ada@example.com"),
        *("--param", "name=Ada Lovelace  "),
        *("--param", 'quote=it\'s "quoted" \\n'),
        *("--param", "cmd=$(touch pwned1) `touch pwned2` ${HOME} $HOME"),
        *("--param", "equals=a=b=c"),
        *("--param", "glob=*"),
        *("--param", "semi=x; touch pwned3 && echo hi | cat"),
        *("--param", "flag=--yes --confirm prod"),
        *("--param", "crlf=value"),
        *("--param", "last=no newline at the end"),
        *("--timeout", "15m"),
        *("--tasks", "4"),
        *("--parallelism", "2; touch pwned5"),
        *("--yes", "--confirm", "prod"),
    ]
    assert not list(tmp_path.rglob("pwned*"))


def test_only_environment_and_task_are_required(tmp_path: Path, fake_opsctl: Path) -> None:
    proc, argv = run_action_script(tmp_path, fake_opsctl, environment="local", task="seed-admin")
    assert proc.returncode == 0, proc.stderr
    assert argv == ["run", "local", "seed-admin"]


def test_a_params_line_without_equals_fails_without_echoing_it(tmp_path: Path, fake_opsctl: Path) -> None:
    proc, argv = run_action_script(
        tmp_path, fake_opsctl, environment="local", task="create-superadmin", params="email=a@b.co\nhunter2"
    )
    assert proc.returncode == 2 and argv is None
    assert proc.stdout == "::error title=opsctl action::params: every line must be NAME=VALUE (a line has no '=')\n"
    assert "hunter2" not in proc.stdout + proc.stderr
