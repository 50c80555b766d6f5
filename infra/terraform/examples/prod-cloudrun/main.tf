# Production on Cloud Run: the admin job, opsctl's exact permissions on it, and keyless access for
# GitHub Actions jobs in the `prod` environment.

module "admin_job" {
  source = "../../modules/cloud-run-admin-job"

  project        = var.project
  region         = var.region
  name           = "quill-admin-prod"
  environment    = "prod"
  protected      = true
  image          = var.image
  container_name = "admin"
  timeout        = "900s"

  runtime_service_account_email = var.runtime_service_account_email
  cloud_sql_instances           = [var.sql_connection_name]

  env = {
    APP_ENV  = "prod"
    DB_HOST  = "/cloudsql/${var.sql_connection_name}"
    DB_NAME  = "quill"
    DB_USER  = "quill_admin"
    LOG_JSON = "1"
  }
  secret_env = {
    DB_PASSWORD = { secret = var.db_password_secret }
  }

  operator_members      = ["group:${var.operator_group}"]
  ci_service_account_id = "opsctl-ci-prod"
  # protected = true: only jobs that declare `environment: prod` (required reviewers) are trusted.
  github_wif = {
    repository    = var.github_repository
    repository_id = var.github_repository_id
  }
}
