variable "role_name" {
  description = "Name of the IAM role GitHub Actions assumes to run opsctl."
  type        = string
}

variable "github_repository" {
  description = "OWNER/REPO whose workflows may assume the role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/REPO."
  }
}

variable "github_environments" {
  description = "Protected GitHub environments (required reviewers) whose jobs may assume the role. A job that declares `environment: NAME` presents sub ...:environment:NAME, and that is the only claim trusted for them: a job without `environment:` cannot skip the reviewers. Add the environment here and apply BEFORE adding `environment:` to a workflow (README: the two-step change)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for env in var.github_environments : can(regex("^[^*?\\\\'\"]+$", env))])
    error_message = "github_environments: an environment name must not contain * ? \\ ' or \" (StringLike would turn a wildcard into \"any environment\")."
  }

  # Refs alongside environments would let a job on that ref without `environment:` assume the role
  # and skip the reviewers. Only during the two-step change (transition_trust_refs) are both trusted.
  validation {
    condition     = length(var.github_environments) == 0 || length(var.github_refs) == 0 || var.transition_trust_refs
    error_message = "github_environments and github_refs together would let a job on the ref skip the environment's reviewers: trust only the environments (github_refs = []), or set transition_trust_refs = true for step 1 of the two-step change."
  }

  # Nothing configured means nothing is trusted: refuse to create a role no workflow can use, and
  # never fall back to a default that trusts a branch.
  validation {
    condition     = length(var.github_environments) + length(var.github_refs) > 0
    error_message = "The role trusts nothing: list protected environments in github_environments, or (unprotected environments only) refs in github_refs."
  }
}

variable "github_refs" {
  description = "For environments without a reviewer gate only: git refs whose jobs (without `environment:`) may assume the role, e.g. [\"refs/heads/main\"]. StringLike patterns are allowed (\"refs/tags/v*\") but not one that matches every branch. Default []: no ref is trusted."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for ref in var.github_refs : can(regex("^refs/(heads|tags)/[^*?\\\\'\"][^?\\\\'\"]*$", ref))
    ])
    error_message = "github_refs: each ref must be refs/heads/NAME or refs/tags/NAME; a * may follow a literal prefix (\"refs/tags/v*\"), but \"refs/heads/*\", which trusts every branch, is refused."
  }
}

variable "transition_trust_refs" {
  description = "Step 1 of the two-step change only: trust github_refs as well as github_environments, so a job keeps working while `environment:` is being added to it. Set back to false (and github_refs = []) once the job declares the environment."
  type        = bool
  default     = false
}

variable "github_ids" {
  description = "Owner and repository IDs, for the immutable `sub` (repo:OWNER@OWNER_ID/REPO@REPO_ID:...) that repositories created, renamed or transferred after 15 Jul 2026, or opted in, present. `gh api repos/OWNER/REPO --jq '.owner.id, .id'`."
  type = object({
    owner_id      = string
    repository_id = string
  })
  default = null
}

variable "accept_name_based_sub" {
  description = "Accept the name-only `sub` (repo:OWNER/REPO:...). Set false once the repository presents the immutable form, so a recycled OWNER/REPO name cannot match."
  type        = bool
  default     = true

  validation {
    condition     = var.accept_name_based_sub || var.github_ids != null
    error_message = "accept_name_based_sub = false needs github_ids, or the role trusts no sub at all."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's token.actions.githubusercontent.com OIDC provider (one per account); otherwise pass oidc_provider_arn."
  type        = bool
  default     = false
}

variable "oidc_provider_arn" {
  description = "ARN of the existing GitHub OIDC provider, when create_oidc_provider is false."
  type        = string
  default     = null
}

variable "max_session_duration" {
  description = "Maximum session length in seconds; configure-aws-credentials asks for 1 h by default."
  type        = number
  default     = 3600
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the role."
  type        = string
  default     = null
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster opsctl runs tasks in; region, account and partition are taken from it."
  type        = string

  validation {
    condition     = can(regex("^arn:[^:]+:ecs:[^:]+:[0-9]{12}:cluster/[A-Za-z0-9_-]+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)."
  }
}

variable "task_definition_family" {
  description = "The only task definition family the role may run."
  type        = string
}

variable "service_names" {
  description = "Services opsctl may describe to copy their network settings (opsctl.toml `service`). Empty if you set subnets/security_groups instead."
  type        = list(string)
  default     = []
}

variable "task_execution_role_arn" {
  description = "The task definition's execution role (iam:PassRole target)."
  type        = string
}

variable "task_role_arn" {
  description = "The task definition's task role (iam:PassRole target)."
  type        = string
}

variable "log_group_name" {
  description = "The admin task's CloudWatch log group, in the cluster's region and account."
  type        = string
}

variable "allow_build" {
  description = "Also allow `opsctl build`: register new revisions of the family and push to ecr_repository_arns."
  type        = bool
  default     = false
}

variable "ecr_repository_arns" {
  description = "With allow_build: the ECR repositories `opsctl build` pushes the image to."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
