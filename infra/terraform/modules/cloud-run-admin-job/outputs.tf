output "job_name" {
  description = "The job's name (opsctl's job)."
  value       = google_cloud_run_v2_job.admin.name
}

output "job_id" {
  description = "projects/P/locations/R/jobs/NAME."
  value       = google_cloud_run_v2_job.admin.id
}

output "region" {
  description = "The job's region."
  value       = var.region
}

output "project" {
  description = "The job's project."
  value       = var.project
}

output "container_name" {
  description = "The admin container's name (opsctl's container)."
  value       = var.container_name
}

output "custom_role_id" {
  description = "The opsctl role bound on the job (projects/P/roles/ID)."
  value       = google_project_iam_custom_role.opsctl.id
}

output "project_role_id" {
  description = "The project-level role for logs and operations."
  value       = google_project_iam_custom_role.opsctl_project.id
}

output "ci_service_account_email" {
  description = "For google-github-actions/auth `service_account`."
  value       = var.ci_service_account_id == null ? null : google_service_account.ci[0].email
}

output "workload_identity_provider" {
  description = "For google-github-actions/auth `workload_identity_provider`."
  value       = local.wif_enabled ? google_iam_workload_identity_pool_provider.github[0].name : null
}

output "opsctl_toml" {
  description = "Ready-to-paste [environments.X] table for opsctl.toml."
  value       = local.opsctl_toml
}
