# The [environments.X] table for opsctl.toml (DESIGN.md §3): `terraform output -raw opsctl_toml`.
# It reads only local.opsctl (set in main.tf), so tests can render it with real Terraform and no
# providers.

locals {
  # jsonencode gives TOML-compatible quoted strings.
  opsctl_toml = <<-EOT
    [environments.${jsonencode(local.opsctl.environment)}]
    provider = "cloudrun"
    project = ${jsonencode(local.opsctl.project)}
    region = ${jsonencode(local.opsctl.region)}
    job = ${jsonencode(local.opsctl.job)}
    container = ${jsonencode(local.opsctl.container)}
    protected = ${local.opsctl.protected}
  EOT
}
