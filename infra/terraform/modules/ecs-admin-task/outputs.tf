output "task_definition_family" {
  description = "Family to run (opsctl's task_definition); RunTask with the family uses the latest ACTIVE revision."
  value       = aws_ecs_task_definition.admin.family
}

output "task_definition_arn" {
  description = "ARN of the revision Terraform registered."
  value       = aws_ecs_task_definition.admin.arn
}

output "container_name" {
  description = "The admin container's name (opsctl's container)."
  value       = var.container_name
}

output "log_group_name" {
  description = "CloudWatch log group of the admin task (opsctl's log_group)."
  value       = aws_cloudwatch_log_group.admin.name
}

output "log_group_arn" {
  description = "ARN of that log group."
  value       = aws_cloudwatch_log_group.admin.arn
}

output "log_stream_prefix" {
  description = "awslogs-stream-prefix; streams are <prefix>/<container>/<task-id>."
  value       = var.log_stream_prefix
}

output "execution_role_arn" {
  description = "Execution role (pull, logs, secrets); opsctl's role needs iam:PassRole on it."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "Task role (the admin code's own AWS identity); opsctl's role needs iam:PassRole on it."
  value       = aws_iam_role.task.arn
}

output "region" {
  description = "Region of the task definition and log group."
  value       = local.region
}

output "opsctl_toml" {
  description = "Ready-to-paste [environments.X] table for opsctl.toml."
  value       = local.opsctl_toml
}
