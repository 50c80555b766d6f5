# Staging on ECS Fargate: the admin task definition, and the role GitHub Actions assumes to run it.
# Apply this BEFORE adding `environment: staging` to any workflow job (see ../../README.md).

data "aws_ecs_cluster" "staging" {
  cluster_name = var.cluster_name
}

module "admin_task" {
  source = "../../modules/ecs-admin-task"

  name           = "clinloop-staging-admin"
  environment    = "staging"
  image          = var.image
  container_name = "admin"
  command        = ["node", "node_modules/@clinloop/db/dist/seeds/admin-cli.js"]

  environment_variables = {
    APP_ENV  = "staging"
    NODE_ENV = "production"
  }
  secrets = {
    DB_PASSWORD  = var.db_password_secret_arn
    DATABASE_URL = var.database_url_parameter_arn
  }
  ecr_repository_arns = [var.ecr_repository_arn]

  cluster_name       = var.cluster_name
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

module "opsctl_role" {
  source = "../../modules/github-oidc-aws-role"

  role_name            = "clinloop-staging-opsctl"
  github_repository    = var.github_repository
  github_ids           = var.github_ids
  create_oidc_provider = var.create_oidc_provider
  oidc_provider_arn    = var.oidc_provider_arn

  # Only jobs that declare `environment: staging` (required reviewers, deployment branch main): a
  # job without it cannot assume the role. Migrating a workflow that has no `environment:` yet? See
  # the two-step change in ../../README.md (github_refs + transition_trust_refs, then drop them).
  github_environments = ["staging"]

  cluster_arn             = data.aws_ecs_cluster.staging.arn
  task_definition_family  = module.admin_task.task_definition_family
  service_names           = [var.service_name]
  task_execution_role_arn = module.admin_task.execution_role_arn
  task_role_arn           = module.admin_task.task_role_arn
  log_group_name          = module.admin_task.log_group_name
}
