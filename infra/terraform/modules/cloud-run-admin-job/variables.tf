variable "project" {
  description = "GCP project ID of the job."
  type        = string
}

variable "region" {
  description = "Cloud Run region (e.g. europe-west2)."
  type        = string
}

variable "name" {
  description = "Job name (opsctl's `job`), e.g. quill-admin-prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a lowercase DNS label of at most 63 characters."
  }
}

variable "environment" {
  description = "The opsctl environment name this job serves; it names the [environments.X] table in the opsctl_toml output."
  type        = string
}

variable "image" {
  description = "The admin image (Artifact Registry), ideally pinned by digest."
  type        = string
}

variable "container_name" {
  description = "Name of the admin container (opsctl's `container`)."
  type        = string
  default     = "admin"
}

variable "command" {
  description = "Entrypoint; null keeps the image's. opsctl can only override args, never the entrypoint."
  type        = list(string)
  default     = null
}

variable "args" {
  description = "Default args; opsctl tasks replace them per run."
  type        = list(string)
  default     = null
}

variable "cpu" {
  description = "CPU limit."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit."
  type        = string
  default     = "512Mi"
}

variable "timeout" {
  description = "Longest a run may take before Cloud Run kills it (opsctl's --timeout can ask for less per run)."
  type        = string
  default     = "900s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.timeout))
    error_message = "timeout must be a number of seconds ending in \"s\", e.g. \"900s\"."
  }
}

variable "parallelism" {
  description = "At most this many copies of a task run at once (`opsctl run --tasks N`; 0: as many as Cloud Run can). An execution cannot override it, so `--parallelism K` must match it. Above 1 the job's own task_count becomes this number (Cloud Run requires parallelism <= task_count), so a run started outside opsctl (console, gcloud without --tasks, a scheduler) runs that many copies: prefer 0 for fan-out, which keeps the job's task_count at 1."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelism >= 0 && floor(var.parallelism) == var.parallelism
    error_message = "parallelism must be a whole number, 0 or more (0: as many tasks at once as Cloud Run can)."
  }
}

variable "runtime_service_account_email" {
  description = "Identity of the running task: needs roles/cloudsql.client for a Cloud SQL volume (granted outside this module) and read access to the secrets (granted here unless grant_secret_access = false)."
  type        = string
}

variable "env" {
  description = "Plain, non-secret environment. Anything credential-like belongs in secret_env."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k in keys(var.env) :
      length(regexall("(?i)(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|DATABASE_URL|DSN)", k)) == 0
    ])
    error_message = "env must not carry credentials (a name contains PASSWORD, SECRET, TOKEN, ...): use secret_env, which Cloud Run resolves from Secret Manager at start."
  }
}

variable "secret_env" {
  description = "Env var name => Secret Manager secret (\"name\" in this project or \"projects/P/secrets/name\") and version."
  type = map(object({
    secret  = string
    version = optional(string, "latest")
  }))
  default = {}
}

variable "grant_secret_access" {
  description = "Grant the runtime service account roles/secretmanager.secretAccessor on each secret in secret_env."
  type        = bool
  default     = true
}

variable "cloud_sql_instances" {
  description = "Cloud SQL connection names (PROJECT:REGION:INSTANCE) mounted under /cloudsql. Leave empty to reach the database by private IP through vpc_connector or direct_vpc."
  type        = list(string)
  default     = []
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector (projects/P/locations/R/connectors/C). Exclusive with direct_vpc."
  type        = string
  default     = null
}

variable "direct_vpc" {
  description = "Direct VPC egress: the network and/or subnetwork the task gets an IP in. Exclusive with vpc_connector."
  type = object({
    network    = optional(string)
    subnetwork = optional(string)
    tags       = optional(list(string), [])
  })
  default = null
}

variable "vpc_egress" {
  description = "PRIVATE_RANGES_ONLY (default) or ALL_TRAFFIC."
  type        = string
  default     = "PRIVATE_RANGES_ONLY"

  validation {
    condition     = contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], var.vpc_egress)
    error_message = "vpc_egress must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

variable "operator_members" {
  description = "Who may run, watch and stop the job from a laptop, as IAM members (\"group:ops@example.com\")."
  type        = list(string)
  default     = []
}

variable "ci_service_account_id" {
  description = "Account ID of a service account to create for CI (gets the same opsctl roles). null: no CI identity."
  type        = string
  default     = null
}

variable "github_wif" {
  description = <<-EOT
    Let GitHub Actions in `repository` impersonate the CI service account through Workload Identity
    Federation. repository_id (`gh api repos/OWNER/REPO --jq .id`) pins the repository against
    rename-and-recreate. Which jobs are trusted:
    - environments: jobs that declare `environment: NAME` (the token's `environment` claim). Default:
      [var.environment] when protected = true, else []. For a protected environment this is the only
      claim trusted, so no job can skip its required reviewers.
    - allowed_refs: jobs on these refs (the `ref` claim), for environments without a reviewer gate.
      Default []: no ref is trusted.
    Nothing trusted is refused. Both together only with transition_trust_refs = true (step 1 of
    the two-step change in the README).
  EOT
  type = object({
    repository            = string
    repository_id         = optional(string)
    environments          = optional(list(string))
    allowed_refs          = optional(list(string), [])
    transition_trust_refs = optional(bool, false)
    pool_id               = optional(string, "github")
    provider_id           = optional(string, "github-actions")
  })
  default = null

  validation {
    condition     = var.github_wif == null ? true : can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_wif.repository))
    error_message = "github_wif.repository must look like OWNER/REPO."
  }

  validation {
    condition = var.github_wif == null ? true : alltrue([
      for ref in var.github_wif.allowed_refs : can(regex("^refs/(heads|tags)/[^*?\\'\"][^*?\\'\"]*$", ref))
    ])
    error_message = "github_wif.allowed_refs: each ref must be an exact refs/heads/NAME or refs/tags/NAME (no wildcards: the condition compares claims exactly)."
  }

  validation {
    condition = var.github_wif == null ? true : alltrue([
      for env in coalesce(var.github_wif.environments, []) : can(regex("^[^\\'\"]+$", env))
    ])
    error_message = "github_wif.environments: an environment name must not contain \\ ' or \"."
  }

  # Nothing configured means nothing is trusted: refuse, rather than fall back to "every branch".
  validation {
    condition = var.github_wif == null ? true : length(var.github_wif.allowed_refs) + length(
      var.github_wif.environments != null ? var.github_wif.environments : (var.protected ? [var.environment] : [])
    ) > 0
    error_message = "github_wif trusts nothing: give environments (protected environments) or allowed_refs (others)."
  }

  # A protected environment is trusted through its GitHub environment (required reviewers) only.
  validation {
    condition     = var.github_wif == null ? true : !var.protected || length(coalesce(var.github_wif.environments, [var.environment])) > 0
    error_message = "github_wif: protected = true needs the environment claim (environments, default [var.environment]): a ref alone would let a job skip the reviewers."
  }

  # Refs alongside environments would let a job on the ref without `environment:` skip the reviewers.
  validation {
    condition = var.github_wif == null ? true : (
      length(var.github_wif.allowed_refs) == 0 || var.github_wif.transition_trust_refs || length(
        var.github_wif.environments != null ? var.github_wif.environments : (var.protected ? [var.environment] : [])
      ) == 0
    )
    error_message = "github_wif: environments and allowed_refs together would let a job on the ref skip the environment's reviewers: drop allowed_refs, or set transition_trust_refs = true for step 1 of the two-step change."
  }
}

variable "allow_build" {
  description = "Also let the CI service account run `opsctl build`: update this job (roles/run.developer on it) and deploy it as the runtime service account (roles/iam.serviceAccountUser on that account). Pushing the image needs roles/artifactregistry.writer on the repository, granted outside this module."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to destroy the job from Terraform."
  type        = bool
  default     = true
}

variable "protected" {
  description = "Rendered into opsctl_toml: require a typed confirmation before running here."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels on the job and its executions."
  type        = map(string)
  default     = {}
}
