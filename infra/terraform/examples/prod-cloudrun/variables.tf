variable "project" {
  description = "The production GCP project."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
  default     = "europe-west2"
}

variable "image" {
  description = "Admin image in Artifact Registry, pinned by digest."
  type        = string
}

variable "runtime_service_account_email" {
  description = "The job's runtime identity (has roles/cloudsql.client)."
  type        = string
}

variable "sql_connection_name" {
  description = "Cloud SQL instance connection name (PROJECT:REGION:INSTANCE)."
  type        = string
}

variable "db_password_secret" {
  description = "Secret Manager secret ID holding the database password."
  type        = string
  default     = "quill-db-password"
}

variable "operator_group" {
  description = "Google group of people allowed to run admin tasks in production."
  type        = string
}

variable "github_repository" {
  description = "OWNER/REPO whose workflows run opsctl."
  type        = string
}

variable "github_repository_id" {
  description = "Numeric repository ID (gh api repos/OWNER/REPO --jq .id); pins the trust to this repository."
  type        = string
  default     = null
}
