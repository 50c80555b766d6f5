# Values derived from the variables alone (no resources), so tests can evaluate them with real
# Terraform and no providers.

locals {
  # Custom role IDs allow only [a-zA-Z0-9_.], 3-64 characters.
  role_base = substr(replace(var.name, "-", "_"), 0, 48)

  # Workload Identity Federation (github_wif.tf). A job is trusted through its GitHub environment
  # (protected environments: the only way in, so the required reviewers cannot be skipped) or, for
  # unprotected ones, its ref. Nothing listed: the condition ends in `false` (variables.tf refuses
  # that configuration anyway).
  wif_enabled = var.github_wif != null
  wif_environments = local.wif_enabled ? (
    var.github_wif.environments != null ? var.github_wif.environments : (var.protected ? [var.environment] : [])
  ) : []
  wif_refs = local.wif_enabled ? var.github_wif.allowed_refs : []
  wif_claims = concat(
    length(local.wif_environments) == 0 ? [] : ["assertion.environment in [${join(", ", [for e in local.wif_environments : "'${e}'"])}]"],
    length(local.wif_refs) == 0 ? [] : ["assertion.ref in [${join(", ", [for r in local.wif_refs : "'${r}'"])}]"],
  )
  wif_condition = local.wif_enabled ? join(" && ", concat(
    ["assertion.repository == '${var.github_wif.repository}'"],
    var.github_wif.repository_id == null ? [] : ["assertion.repository_id == '${var.github_wif.repository_id}'"],
    [length(local.wif_claims) == 0 ? "false" : length(local.wif_claims) == 1 ? local.wif_claims[0] : "(${join(" || ", local.wif_claims)})"],
  )) : null
  # repository_id survives renames and cannot be re-registered by someone else.
  wif_principal = local.wif_enabled ? (
    var.github_wif.repository_id == null
    ? "attribute.repository/${var.github_wif.repository}"
    : "attribute.repository_id/${var.github_wif.repository_id}"
  ) : null
}
