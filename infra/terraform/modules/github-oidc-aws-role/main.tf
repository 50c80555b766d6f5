# The IAM role a GitHub Actions job assumes (via OIDC, no stored keys) to run opsctl against one
# ECS cluster and one task definition family, with nothing else.

locals {
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM validates GitHub's certificate against its trusted CAs and ignores these, but older AWS
  # providers require the argument.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = var.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubActionsOidc"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Values are OR-ed: any listed ref or environment, in either sub format.
    condition {
      test     = "StringLike"
      variable = "${local.oidc_host}:sub"
      values   = local.trusted_subjects
    }
  }
}

resource "aws_iam_role" "opsctl" {
  name                 = var.role_name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.create_oidc_provider != (var.oidc_provider_arn != null)
      error_message = "Set exactly one of create_oidc_provider = true or oidc_provider_arn."
    }
    precondition {
      condition     = length(local.trusted_subjects) > 0
      error_message = "No trusted sub: give github_refs or github_environments, and keep accept_name_based_sub or set github_ids."
    }
  }
}

data "aws_iam_policy_document" "opsctl" {
  statement {
    sid       = "RunTheAdminFamilyInTheCluster"
    effect    = "Allow"
    actions   = ["ecs:RunTask"]
    resources = ["${local.ecs_arn_prefix}:task-definition/${var.task_definition_family}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  statement {
    sid       = "WatchAndStopTasksInTheCluster"
    effect    = "Allow"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["${local.ecs_arn_prefix}:task/${local.cluster_name}/*"]
  }

  statement {
    sid       = "ListTasksInTheCluster"
    effect    = "Allow"
    actions   = ["ecs:ListTasks"]
    resources = ["*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  # DescribeTaskDefinition supports no resource-level permissions: IAM only accepts "*" for it.
  # It reveals container definitions (image, command, plain environment, secret ARNs), never
  # secret values.
  statement {
    sid       = "ReadTaskDefinitions"
    effect    = "Allow"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }

  # Evaluated only when RunTask carries tags; the condition means it can never tag anything else.
  statement {
    sid       = "TagTasksAtLaunch"
    effect    = "Allow"
    actions   = ["ecs:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassOnlyTheTaskRolesToEcs"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [var.task_execution_role_arn, var.task_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadTheAdminLogs"
    effect    = "Allow"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents"]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.service_names) > 0 ? [1] : []
    content {
      sid       = "DescribeServicesForNetworkConfig"
      effect    = "Allow"
      actions   = ["ecs:DescribeServices"]
      resources = [for s in var.service_names : "${local.ecs_arn_prefix}:service/${local.cluster_name}/${s}"]
    }
  }

  # opsctl build. RegisterTaskDefinition has no resource-level permissions either; passing roles
  # in the new revision is still limited by PassOnlyTheTaskRolesToEcs.
  dynamic "statement" {
    for_each = var.allow_build ? [1] : []
    content {
      sid       = "BuildRegistersRevisions"
      effect    = "Allow"
      actions   = ["ecs:RegisterTaskDefinition"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.allow_build ? [1] : []
    content {
      sid       = "BuildTagsRevisions"
      effect    = "Allow"
      actions   = ["ecs:TagResource"]
      resources = ["${local.ecs_arn_prefix}:task-definition/${var.task_definition_family}:*"]

      condition {
        test     = "StringEquals"
        variable = "ecs:CreateAction"
        values   = ["RegisterTaskDefinition"]
      }
    }
  }

  dynamic "statement" {
    # GetAuthorizationToken has no resource-level permissions; the pushes below are scoped.
    for_each = var.allow_build && length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "BuildLogsInToEcr"
      effect    = "Allow"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.allow_build && length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid    = "BuildPushesTheImage"
      effect = "Allow"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = var.ecr_repository_arns
    }
  }
}

resource "aws_iam_role_policy" "opsctl" {
  name   = "opsctl"
  role   = aws_iam_role.opsctl.id
  policy = data.aws_iam_policy_document.opsctl.json
}
