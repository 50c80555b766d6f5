variable "name" {
  description = "Task definition family, also used to name the roles and the default log group (e.g. \"clinloop-staging-admin\")."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,54}$", var.name))
    error_message = "name must be 1-54 letters, digits, hyphens or underscores (a family name that leaves room for the -execution role suffix)."
  }
}

variable "environment" {
  description = "The opsctl environment name this task serves; it names the [environments.X] table in the opsctl_toml output."
  type        = string
}

variable "image" {
  description = "The admin image, ideally pinned by digest (repo@sha256:...)."
  type        = string
}

variable "container_name" {
  description = "Name of the admin container (opsctl's `container` key)."
  type        = string
  default     = "admin"
}

variable "command" {
  description = "Default container command; opsctl tasks usually override it. null keeps the image's CMD."
  type        = list(string)
  default     = null
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 1024
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64; must match the image."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "environment_variables" {
  description = "Plain, non-secret container environment. Anything credential-like belongs in `secrets`."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k in keys(var.environment_variables) :
      length(regexall("(?i)(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|DATABASE_URL|DSN)", k)) == 0
    ])
    error_message = "environment_variables must not carry credentials (a name contains PASSWORD, SECRET, TOKEN, ...): pass them in `secrets` so they stay out of the task definition."
  }
}

variable "secrets" {
  description = "Container env var name => Secrets Manager secret ARN (optionally with a :json-key:: suffix) or SSM parameter ARN. Injected by ECS at start; never stored in the task definition."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for v in values(var.secrets) : can(regex("^arn:[^:]+:(secretsmanager:[^:]*:[0-9]+:secret:|ssm:[^:]*:[0-9]+:parameter/)", v))
    ])
    error_message = "Each secrets value must be a Secrets Manager secret ARN or an SSM parameter ARN."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt those secrets/parameters (the execution role gets kms:Decrypt on them). Empty for AWS-managed keys."
  type        = list(string)
  default     = []
}

variable "ecr_repository_arns" {
  description = "ECR repositories the image is pulled from (the execution role may pull only from these). Empty when the image is not in ECR."
  type        = list(string)
  default     = []
}

variable "task_role_policy_arns" {
  description = "Managed policies for the task role: what the admin code itself may call in AWS. Usually none (it talks to the database)."
  type        = list(string)
  default     = []
}

variable "log_group_name" {
  description = "CloudWatch log group to create; null means /ecs/<name>."
  type        = string
  default     = null
}

variable "log_stream_prefix" {
  description = "awslogs-stream-prefix (required on Fargate). Streams are <prefix>/<container>/<task-id>."
  type        = string
  default     = "opsctl"
}

variable "log_retention_days" {
  description = "CloudWatch retention for admin task logs. They are the audit trail of who changed what, so the default keeps them a year (checkov CKV_AWS_338); 0 keeps them forever."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653) or 0 (never expire)."
  }
}

variable "log_kms_key_arn" {
  description = "Optional KMS key for the log group."
  type        = string
  default     = null
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL when opsctl stops the task (Fargate maximum 120)."
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds on Fargate."
  }
}

# Only used to render the opsctl_toml output: the task definition itself is network-agnostic.
variable "cluster_name" {
  description = "ECS cluster opsctl runs the task in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task (they need a route to the database, and to ECR/Secrets Manager/Logs via NAT or VPC endpoints)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the task (the database must accept them)."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Only for tasks in public subnets without NAT."
  type        = bool
  default     = false
}

variable "protected" {
  description = "Rendered into opsctl_toml: require a typed confirmation before running here."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
