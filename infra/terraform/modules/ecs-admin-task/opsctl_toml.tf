# The [environments.X] table for opsctl.toml (DESIGN.md §3): `terraform output -raw opsctl_toml`.
# It reads only local.opsctl (set in main.tf), so tests can render it with real Terraform and no
# providers.

locals {
  # jsonencode gives TOML-compatible quoted strings and string arrays.
  opsctl_toml = <<-EOT
    [environments.${jsonencode(local.opsctl.environment)}]
    provider = "ecs"
    region = ${jsonencode(local.opsctl.region)}
    cluster = ${jsonencode(local.opsctl.cluster)}
    task_definition = ${jsonencode(local.opsctl.task_definition)}
    container = ${jsonencode(local.opsctl.container)}
    launch_type = "FARGATE"
    subnets = ${jsonencode(local.opsctl.subnets)}
    security_groups = ${jsonencode(local.opsctl.security_groups)}
    assign_public_ip = ${local.opsctl.assign_public_ip}
    log_group = ${jsonencode(local.opsctl.log_group)}
    log_stream_prefix = ${jsonencode(local.opsctl.log_stream_prefix)}
    protected = ${local.opsctl.protected}
  EOT
}
