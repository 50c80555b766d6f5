# Values derived from the variables alone (no resources), so tests can evaluate them with real
# Terraform and no providers.

locals {
  oidc_host = "token.actions.githubusercontent.com"

  # Everything opsctl touches lives in the cluster's region and account.
  cluster_arn_parts = split(":", var.cluster_arn)
  partition         = local.cluster_arn_parts[1]
  region            = local.cluster_arn_parts[3]
  account_id        = local.cluster_arn_parts[4]
  cluster_name      = split("/", local.cluster_arn_parts[5])[1]
  ecs_arn_prefix    = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
  log_group_arn     = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${var.log_group_name}"

  # `sub` is repo:<repository>:<context>. The context is environment:NAME whenever the job declares
  # `environment:` (":" in a name is sent as %3A), otherwise ref:REF. Repositories on the immutable
  # format send repo:OWNER@OWNER_ID/REPO@REPO_ID:<context> instead.
  repository_owner = split("/", var.github_repository)[0]
  repository_name  = split("/", var.github_repository)[1]
  sub_repositories = concat(
    var.accept_name_based_sub ? [var.github_repository] : [],
    var.github_ids == null ? [] : ["${local.repository_owner}@${var.github_ids.owner_id}/${local.repository_name}@${var.github_ids.repository_id}"],
  )
  sub_contexts = concat(
    [for ref in var.github_refs : "ref:${ref}"],
    [for env in var.github_environments : "environment:${replace(env, ":", "%3A")}"],
  )
  trusted_subjects = flatten([for repo in local.sub_repositories : [for ctx in local.sub_contexts : "repo:${repo}:${ctx}"]])
}
