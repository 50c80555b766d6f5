# Values derived from the variables alone (no resources), so tests can evaluate them with real
# Terraform and no providers.

locals {
  # Custom role IDs allow only [a-zA-Z0-9_.], 3-64 characters.
  role_base = substr(replace(var.name, "-", "_"), 0, 48)

  # Workload Identity Federation (github_wif.tf).
  wif_enabled = var.github_wif != null
  wif_condition = local.wif_enabled ? join(" && ", concat(
    ["assertion.repository == '${var.github_wif.repository}'"],
    var.github_wif.repository_id == null ? [] : ["assertion.repository_id == '${var.github_wif.repository_id}'"],
    length(var.github_wif.allowed_refs) == 0 ? [] : ["assertion.ref in [${join(", ", [for r in var.github_wif.allowed_refs : "'${r}'"])}]"],
  )) : null
  # repository_id survives renames and cannot be re-registered by someone else.
  wif_principal = local.wif_enabled ? (
    var.github_wif.repository_id == null
    ? "attribute.repository/${var.github_wif.repository}"
    : "attribute.repository_id/${var.github_wif.repository_id}"
  ) : null
}
