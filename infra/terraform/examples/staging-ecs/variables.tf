variable "region" {
  description = "AWS region of the staging stack."
  type        = string
  default     = "eu-west-2"
}

variable "github_repository" {
  description = "OWNER/REPO whose workflows run opsctl."
  type        = string
}

variable "github_ids" {
  description = "Owner and repository IDs, when the repository presents the immutable sub (see the module README)."
  type = object({
    owner_id      = string
    repository_id = string
  })
  default = null
}

variable "create_oidc_provider" {
  description = "true if no GitHub OIDC provider exists in the account yet."
  type        = bool
  default     = false
}

variable "oidc_provider_arn" {
  description = "The account's existing token.actions.githubusercontent.com provider, when create_oidc_provider is false."
  type        = string
  default     = null
}

variable "cluster_name" {
  description = "The staging ECS cluster."
  type        = string
  default     = "clinloop-staging"
}

variable "service_name" {
  description = "The staging API service (opsctl may read its network settings)."
  type        = string
  default     = "clinloop-staging-api"
}

variable "subnet_ids" {
  description = "Private subnets that reach the database."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups the database accepts."
  type        = list(string)
}

variable "image" {
  description = "Admin image, pinned by digest."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository of the admin image."
  type        = string
}

variable "db_password_secret_arn" {
  description = "Secrets Manager secret holding the database password."
  type        = string
}

variable "database_url_parameter_arn" {
  description = "SSM SecureString parameter holding the database URL."
  type        = string
}
