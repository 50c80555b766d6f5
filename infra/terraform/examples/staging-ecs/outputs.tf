output "opsctl_toml" {
  description = "Paste into opsctl.toml (compare ./opsctl.toml)."
  value       = module.admin_task.opsctl_toml
}

output "role_arn" {
  description = "role-to-assume for aws-actions/configure-aws-credentials."
  value       = module.opsctl_role.role_arn
}

output "trusted_subjects" {
  description = "The OIDC subs the role accepts."
  value       = module.opsctl_role.trusted_subjects
}
