# Optional: GitHub Actions -> Workload Identity Federation -> the CI service account. No keys.
# The provider only accepts tokens from var.github_wif.repository whose job runs in a trusted GitHub
# environment (protected environments) or on an allowed ref (others): local.wif_condition. Only that
# repository's principal set may impersonate the service account.

resource "google_iam_workload_identity_pool" "github" {
  count                     = local.wif_enabled ? 1 : 0
  project                   = var.project
  workload_identity_pool_id = var.github_wif.pool_id
  display_name              = "GitHub Actions"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count                              = local.wif_enabled ? 1 : 0
  project                            = var.project
  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = var.github_wif.provider_id
  display_name                       = "GitHub Actions OIDC"
  # The condition pins assertion.repository, assertion.repository_id and the environment (or ref)
  # claim (locals.tf; tests/infra assert it). CKV_GCP_125 only recognises `assertion.sub == '...'`,
  # which would reject repositories presenting the immutable ID-based sub.
  #checkov:skip=CKV_GCP_125:the condition pins repository, repository_id and the environment/ref claim instead of sub

  # google.subject is capped at 127 bytes; GitHub's sub fits for ordinary names.
  attribute_mapping = {
    "google.subject"          = "assertion.sub"
    "attribute.repository"    = "assertion.repository"
    "attribute.repository_id" = "assertion.repository_id"
    "attribute.ref"           = "assertion.ref"
  }
  attribute_condition = local.wif_condition

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }

  lifecycle {
    precondition {
      condition     = var.ci_service_account_id != null
      error_message = "github_wif needs ci_service_account_id: the workflow impersonates that service account."
    }
  }
}

resource "google_service_account_iam_member" "github_wif" {
  count              = local.wif_enabled && var.ci_service_account_id != null ? 1 : 0
  service_account_id = google_service_account.ci[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/${local.wif_principal}"
}
