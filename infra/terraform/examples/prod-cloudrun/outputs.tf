output "opsctl_toml" {
  description = "Paste into opsctl.toml (compare ./opsctl.toml)."
  value       = module.admin_job.opsctl_toml
}

output "workload_identity_provider" {
  description = "workload_identity_provider for google-github-actions/auth."
  value       = module.admin_job.workload_identity_provider
}

output "ci_service_account_email" {
  description = "service_account for google-github-actions/auth."
  value       = module.admin_job.ci_service_account_email
}
