# Values derived from the variables alone (no resources), so tests can evaluate them with real
# Terraform and no providers.

locals {
  log_group_name = coalesce(var.log_group_name, "/ecs/${var.name}")

  # Secrets Manager references may end in :json-key:version-stage:version-id; IAM wants the secret.
  secret_arns = distinct([
    for arn in values(var.secrets) : join(":", slice(split(":", arn), 0, 7)) if split(":", arn)[2] == "secretsmanager"
  ])
  parameter_arns = distinct([for arn in values(var.secrets) : arn if split(":", arn)[2] == "ssm"])
}
