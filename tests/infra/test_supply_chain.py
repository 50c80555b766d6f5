"""Supply chain (issue 16): pinned actions, least-privilege workflows, Dependabot, and the analysers.

The analysers are the real tools from the dev extras (checkov from its own venv, .venv/checkov);
each one is shown failing on a planted finding, so `just analyse` passing means something.
`just audit` runs the real pip-audit against a local stand-in of OSV's query API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

ACTION = REPO / "action.yml"
WORKFLOWS = sorted((REPO / "infra" / "github").glob("*.yml"))
BIN = Path(sys.executable).parent
JUST = shutil.which("just", path=str(BIN)) or shutil.which("just")

# The release each pin was read from (git tags in snapshots of the actions' repositories; the
# newest release of the major the workflows used before). Dependabot moves SHA and comment together.
PINS = {
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/checkout": ("11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    "google-github-actions/auth": ("c200f3691d83b41bf9bbd8638997a462592937ed", "v2.1.13"),
    "aws-actions/configure-aws-credentials": ("7474bc4690e29a8392af63c5b98e7449536d5c3a", "v4.3.1"),
}
OIDC_ACTIONS = ("google-github-actions/auth", "aws-actions/configure-aws-credentials")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "steps" in doc:
        return list(doc["steps"])
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def run(*argv: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, "NO_COLOR": "1", **(env or {})},
        timeout=300,
        check=False,
    )


# --- pins and permissions --------------------------------------------------------------------


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_every_uses_is_a_full_commit_sha_with_its_version(path: Path) -> None:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    uses = [line.split("uses:", 1)[1].strip() for line in lines if re.match(r"^(- )?uses:", line)]
    assert uses
    for value in uses:
        if value.startswith("./"):
            continue  # this repository's own action, at the checked-out commit
        match = re.fullmatch(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", value)
        assert match, f"{path.name}: `uses: {value}` is not OWNER/REPO@<40-hex SHA> # vX.Y.Z"
        assert PINS[match[1]] == (match[2], match[3]), f"{path.name}: {value}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_grants_nothing_at_top_level_and_the_oidc_token_only_where_used(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        uses = [str(step.get("uses", "")) for step in job["steps"]]
        if any(u.startswith(OIDC_ACTIONS) for u in uses):
            assert job["permissions"] == {"id-token": "write", "contents": "read"}, name
        else:
            assert "id-token" not in job.get("permissions", {}), name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_leaves_no_token_behind(path: Path) -> None:
    steps = [s for job in load(path)["jobs"].values() for s in job["steps"]]
    checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_dependabot_keeps_actions_pip_and_the_checkov_pin_fresh() -> None:
    config = load(REPO / ".github" / "dependabot.yml")
    assert config["version"] == 2
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(by_ecosystem["github-actions"]["directories"]) == {"/", "/infra/github"}
    assert set(by_ecosystem["pip"]["directories"]) == {"/", "/infra/admin-task", "/.github/analysers"}
    for update in config["updates"]:
        assert update["schedule"]["interval"] == "weekly"
        assert update["cooldown"]["default-days"] == 7  # README: Supply chain
    requirements = (REPO / ".github" / "analysers" / "requirements-checkov.txt").read_text()
    pins = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert len(pins) == 1 and re.fullmatch(r"checkov==\d+\.\d+\.\d+", pins[0])


# --- the analysers fail on findings ----------------------------------------------------------

UNPINNED = """\
name: unpinned
on: workflow_dispatch
permissions: {}
jobs:
  x:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
"""


def test_zizmor_offline_is_clean_on_the_repository_and_fails_on_an_unpinned_action(tmp_path: Path) -> None:
    zizmor = tool("zizmor")
    config = str(REPO / ".github" / "zizmor.yml")
    clean = run(zizmor, "--offline", "--config", config, "action.yml", *map(str, WORKFLOWS))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No findings to report" in clean.stdout
    (tmp_path / "bad.yml").write_text(UNPINNED)
    found = run(zizmor, "--offline", "--config", config, str(tmp_path / "bad.yml"))
    assert found.returncode != 0
    assert "unpinned-uses" in found.stdout


def test_check_jsonschema_validates_offline_and_rejects_a_misspelt_key(tmp_path: Path) -> None:
    cjs = tool("check-jsonschema")
    ok = run(cjs, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "bad.yml").write_text(UNPINNED.replace("runs-on:", "runs_on:"))
    bad = run(cjs, "--builtin-schema", "vendor.github-workflows", str(tmp_path / "bad.yml"))
    assert bad.returncode == 1
    assert "Schema validation errors" in bad.stdout


def test_hadolint_is_clean_on_the_admin_image_and_catches_sc2035(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    dockerfile = REPO / "infra" / "admin-task" / "Dockerfile"
    assert run(hadolint, "--no-color", str(dockerfile)).returncode == 0
    (tmp_path / "Dockerfile").write_text(dockerfile.read_text().replace("./*.egg-info", "*.egg-info"))
    bad = run(hadolint, "--no-color", str(tmp_path / "Dockerfile"))
    assert bad.returncode == 1
    assert "SC2035" in bad.stdout


def test_shellcheck_steps_names_the_step_with_a_finding(tmp_path: Path) -> None:
    if JUST is None:
        pytest.skip("just is not installed (pip install rust-just)")
    tool("shellcheck")
    bad = tmp_path / "bad.yml"
    bad.write_text(UNPINNED + "      - name: Greet\n        run: echo $GREETING | tr a-z A-Z\n")
    result = run(JUST, "shellcheck-steps", str(bad))
    assert result.returncode == 1
    assert "In ./bad.yml--1-Greet.sh line 1:" in result.stdout
    assert "SC2086" in result.stdout
    clean = run(JUST, "shellcheck-steps", "action.yml", *map(str, WORKFLOWS))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    steps = [s for doc in (load(ACTION)["runs"], *map(load, WORKFLOWS)) for s in steps_of(doc) if "run" in s]
    assert clean.stdout == f"shellcheck: no findings in {len(steps)} run: steps\n"


def checkov() -> str:
    own_venv = REPO / ".venv" / "checkov" / "bin" / "checkov"
    if own_venv.exists():
        return str(own_venv)
    found = shutil.which("checkov")
    if found is None:
        pytest.skip("checkov is not installed: `just analyse` installs it into .venv/checkov")
    return found


def test_checkov_fails_on_a_short_audit_log_retention(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_cloudwatch_log_group" "audit" {\n  name              = "/ecs/x"\n  retention_in_days = 90\n}\n'
    )
    result = run(checkov(), "-d", str(tmp_path), "--framework", "terraform", "--skip-download", "--compact")
    assert result.returncode == 1
    assert "CKV_AWS_338" in result.stdout


def test_checkov_skips_only_with_a_reason() -> None:
    skips = []
    for path in [*(REPO / "infra").rglob("*.tf"), REPO / "infra" / "admin-task" / "Dockerfile"]:
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                skips.append((path.name, line.strip()))
    assert skips
    for name, line in skips:
        assert re.fullmatch(r"#checkov:skip=CKV_\w+:\S.{20,}", line), f"{name}: {line}"


def test_analyse_recipe_is_a_dependency_of_test_and_passes() -> None:
    if JUST is None:
        pytest.skip("just is not installed (pip install rust-just)")
    checkov()  # skips when checkov is absent, rather than installing it from inside a test
    dump = json.loads(run(JUST, "--dump", "--dump-format", "json").stdout)
    assert [d["recipe"] for d in dump["recipes"]["test"]["dependencies"]] == ["analyse"]
    result = run(JUST, "analyse")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("analyse: clean (actionlint: no PyPI package ships a binary; see README)")
    assert result.stdout.count("Failed checks: 0") == 2


# --- just audit ------------------------------------------------------------------------------

VULNERABLE = "tenacity"


class FakeOsv(BaseHTTPRequestHandler):
    """OSV's POST /v1/query (https://google.github.io/osv.dev/post-v1-query/), as pip-audit 2.10's
    pip_audit/_service/osv.py reads it: {} for a clean version, else {"vulns": [{id, summary,
    affected[].ranges[].events[].fixed}]}. One package, VULNERABLE, has a vulnerability."""

    vulnerable: str | None = VULNERABLE

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = query["package"]["name"]
        body: dict[str, Any] = {}
        if name == self.vulnerable:
            body = {
                "vulns": [
                    {
                        "id": "GHSA-opsc-tl16-test",
                        "summary": "planted by the test's OSV stand-in",
                        "affected": [
                            {
                                "package": {"name": name, "ecosystem": "PyPI"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999.0"}]}],
                            }
                        ],
                    }
                ]
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def osv() -> Iterator[tuple[str, type[FakeOsv]]]:
    handler = type("Handler", (FakeOsv,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query", handler
    server.shutdown()
    server.server_close()


def audit(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if JUST is None:
        pytest.skip("just is not installed (pip install rust-just)")
    tool("pip-audit")
    return run(JUST, "audit", "--cache-dir", str(tmp_path / "cache"), *args)


def test_audit_fails_on_a_known_vulnerability(osv: tuple[str, type[FakeOsv]], tmp_path: Path) -> None:
    url, _ = osv
    result = audit("--vulnerability-service", "osv", "--osv-url", url, tmp_path=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"^{VULNERABLE}\s+\S+\s+GHSA-opsc-tl16-test\s+999\.0", result.stdout, re.MULTILINE)


def test_audit_passes_when_no_dependency_is_vulnerable(osv: tuple[str, type[FakeOsv]], tmp_path: Path) -> None:
    url, handler = osv
    handler.vulnerable = None
    result = audit("--vulnerability-service", "osv", "--osv-url", url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No known vulnerabilities found" in result.stdout


def test_audit_says_so_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    result = audit(
        "--vulnerability-service", "osv", "--osv-url", f"http://127.0.0.1:{port}/v1/query", tmp_path=tmp_path
    )
    assert result.returncode == 75
    assert result.stdout == ""
    assert result.stderr == (
        "audit: pip-audit cannot reach a vulnerability database from this network, so no dependency was"
        " checked; run `just audit` where pypi.org (or OSV) is reachable\n"
    )
