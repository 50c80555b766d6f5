"""The cloud IAM permissions each opsctl operation needs; infra/terraform grants exactly these."""

from __future__ import annotations

# The custom role `infra/terraform/modules/cloud-run-admin-job` creates, exactly (tests compare them).
CLOUD_RUN_PERMISSIONS: tuple[str, ...] = (
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    "run.executions.get",
    "run.executions.list",
    "run.executions.cancel",
    "run.tasks.get",
    "run.tasks.list",
    "run.operations.get",
    "logging.logEntries.list",
)

# Checked on the project, not on the job: log entries belong to the project, and the Operation that
# jobs.run returns is named projects/P/locations/L/operations/ID, outside the job. The module grants
# these through a second role bound on the project; a binding on the job alone never grants them.
CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS: tuple[str, ...] = (
    "run.operations.get",
    "logging.logEntries.list",
)

CLOUD_RUN_PERMISSION_FOR: dict[str, str] = {
    "run": "run.jobs.run",
    "run_with_overrides": "run.jobs.runWithOverrides",
    "get_job": "run.jobs.get",
    "get_operation": "run.operations.get",
    "get_execution": "run.executions.get",
    "list_executions": "run.executions.list",
    "cancel": "run.executions.cancel",
    "get_task": "run.tasks.get",
    "list_tasks": "run.tasks.list",
    "read_logs": "logging.logEntries.list",
}

# `opsctl build` also updates the job: a deployer's permission, deliberately not in the operator role.
CLOUD_RUN_BUILD_PERMISSION_FOR: dict[str, str] = {"update_job": "run.jobs.update"}

# `register_task_definition` is granted only with `allow_build = true` (for `opsctl build`).
# sts:GetCallerIdentity needs no permission, so it has no entry.
ECS_ACTIONS_FOR: dict[str, tuple[str, ...]] = {
    "run_task": ("ecs:RunTask",),
    "describe_tasks": ("ecs:DescribeTasks",),
    "stop_task": ("ecs:StopTask",),
    "list_tasks": ("ecs:ListTasks",),
    "describe_services": ("ecs:DescribeServices",),
    "describe_task_definition": ("ecs:DescribeTaskDefinition",),
    "register_task_definition": ("ecs:RegisterTaskDefinition",),
    "tag_resource": ("ecs:TagResource",),
    "pass_role": ("iam:PassRole",),
    "get_log_events": ("logs:GetLogEvents",),
    "filter_log_events": ("logs:FilterLogEvents",),
}
