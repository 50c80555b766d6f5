# A Fargate task definition for one-off admin tasks run by opsctl, plus its log group and roles.
# Credentials reach the container only through `secrets` (ECS fetches them at start with the
# execution role); the plain `environment` is visible to anyone who can describe the task
# definition, and its variable rejects credential-like names.

data "aws_caller_identity" "current" {}

locals {
  # The log group's ARN carries the provider's region (works on every AWS provider version).
  region = split(":", aws_cloudwatch_log_group.admin.arn)[3]

  container_base = {
    name      = var.container_name
    image     = var.image
    essential = true
    # Plain settings only; the variable's validation keeps credentials out.
    environment = [for k in sort(keys(var.environment_variables)) : { name = k, value = var.environment_variables[k] }]
    # Database credentials and other secrets: resolved by ECS at task start, never stored here.
    secrets = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    # An init process forwards StopTask's SIGTERM to the admin process and reaps children.
    linuxParameters = { initProcessEnabled = true }
    stopTimeout     = var.stop_timeout
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.admin.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = var.log_stream_prefix
        "mode"                  = "blocking" # ECS defaults to non-blocking since June 2025: it drops lines
      }
    }
  }
  container = merge(local.container_base, var.command == null ? {} : { command = var.command })

  # Rendered by opsctl_toml.tf.
  opsctl = {
    environment       = var.environment
    region            = local.region
    cluster           = var.cluster_name
    task_definition   = aws_ecs_task_definition.admin.family
    container         = var.container_name
    subnets           = var.subnet_ids
    security_groups   = var.security_group_ids
    assign_public_ip  = var.assign_public_ip
    log_group         = aws_cloudwatch_log_group.admin.name
    log_stream_prefix = var.log_stream_prefix
    protected         = var.protected
  }
}

resource "aws_cloudwatch_log_group" "admin" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    sid     = "EcsTasksAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Confused-deputy guard: only ECS acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# Execution role: used by the ECS agent, not by the admin code. Pulls the image, writes logs,
# and reads the secrets to inject them.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteTaskLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.admin.arn}:*"]
  }

  dynamic "statement" {
    # GetAuthorizationToken has no resource-level permissions; the pulls below are scoped.
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "EcrLogin"
      effect    = "Allow"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "EcrPull"
      effect    = "Allow"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = var.ecr_repository_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSecrets"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.parameter_arns) > 0 ? [1] : []
    content {
      sid       = "ReadParameters"
      effect    = "Allow"
      actions   = ["ssm:GetParameters"]
      resources = local.parameter_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-logs-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task role: what the admin code itself may do in AWS. Empty unless task_role_policy_arns says so.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "task" {
  for_each   = toset(var.task_role_policy_arns)
  role       = aws_iam_role.task.name
  policy_arn = each.value
}

resource "aws_ecs_task_definition" "admin" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}
