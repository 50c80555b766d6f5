# A Cloud Run job for one-off admin tasks run by opsctl, and exactly the IAM opsctl needs on it.
# Credentials reach the container only as Secret Manager references (value_source.secret_key_ref);
# plain env values are readable by anyone who can view the job, so credential-like names are refused.

locals {
  ci_member = var.ci_service_account_id == null ? null : "serviceAccount:${google_service_account.ci[0].email}"
  # Static keys, so members that are only known after apply still plan.
  members = merge(
    { for m in var.operator_members : m => m },
    var.ci_service_account_id == null ? {} : { ci = local.ci_member },
  )

  # Rendered by opsctl_toml.tf.
  opsctl = {
    environment = var.environment
    project     = var.project
    region      = var.region
    job         = google_cloud_run_v2_job.admin.name
    container   = var.container_name
    protected   = var.protected
  }
}

resource "google_cloud_run_v2_job" "admin" {
  project             = var.project
  name                = var.name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    # opsctl sets task_count on every run (--tasks N, default 1), but an execution cannot change parallelism:
    # `opsctl run --tasks N --parallelism K` needs K == var.parallelism. Cloud Run requires parallelism <=
    # task_count (ExecutionTemplate), so the job's own task_count (for runs started elsewhere) follows it.
    # Above 1 that means a run started elsewhere runs that many copies: the variable says so, and prefers 0.
    task_count  = max(1, var.parallelism)
    parallelism = var.parallelism
    labels      = var.labels

    template {
      service_account       = var.runtime_service_account_email
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
      timeout               = var.timeout
      # Never retry an admin task: a half-applied change must be looked at, not re-run blindly,
      # and opsctl reports the first attempt's exit code.
      max_retries = 0

      dynamic "vpc_access" {
        for_each = var.vpc_connector != null || var.direct_vpc != null ? [1] : []
        content {
          connector = var.vpc_connector
          egress    = var.vpc_egress

          dynamic "network_interfaces" {
            for_each = var.direct_vpc == null ? [] : [var.direct_vpc]
            content {
              network    = network_interfaces.value.network
              subnetwork = network_interfaces.value.subnetwork
              tags       = network_interfaces.value.tags
            }
          }
        }
      }

      dynamic "volumes" {
        for_each = length(var.cloud_sql_instances) > 0 ? [1] : []
        content {
          name = "cloudsql"
          cloud_sql_instance {
            instances = var.cloud_sql_instances
          }
        }
      }

      containers {
        name    = var.container_name
        image   = var.image
        command = var.command
        args    = var.args

        resources {
          limits = {
            cpu    = var.cpu
            memory = var.memory
          }
        }

        # Plain settings only; the variable's validation keeps credentials out.
        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }

        # Database credentials and other secrets: resolved from Secret Manager at start.
        dynamic "env" {
          for_each = var.secret_env
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = env.value.secret
                version = env.value.version
              }
            }
          }
        }

        dynamic "volume_mounts" {
          for_each = length(var.cloud_sql_instances) > 0 ? [1] : []
          content {
            name       = "cloudsql"
            mount_path = "/cloudsql"
          }
        }
      }
    }
  }

  lifecycle {
    # gcloud stamps these when someone touches the job by hand.
    ignore_changes = [client, client_version]

    precondition {
      condition     = var.vpc_connector == null || var.direct_vpc == null
      error_message = "Set vpc_connector or direct_vpc, not both."
    }
  }

  # The first execution must be able to read its secrets.
  depends_on = [google_secret_manager_secret_iam_member.runtime]
}

resource "google_secret_manager_secret_iam_member" "runtime" {
  # Keyed by env var name, which is known at plan time even when the secret is created alongside.
  for_each = var.grant_secret_access ? var.secret_env : {}
  # A full projects/P/secrets/S name carries its own project.
  project   = startswith(each.value.secret, "projects/") ? null : var.project
  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${var.runtime_service_account_email}"
}

# Exactly opsctl.permissions.CLOUD_RUN_PERMISSIONS (tests/infra compares them). Bound on the job,
# so it grants run.* on this job only.
resource "google_project_iam_custom_role" "opsctl" {
  project     = var.project
  role_id     = "opsctl_${local.role_base}"
  title       = "opsctl runner for ${var.name}"
  description = "Run, watch, cancel and read the logs of the ${var.name} Cloud Run job with opsctl."
  permissions = [
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    "run.executions.get",
    "run.executions.list",
    "run.executions.cancel",
    "run.tasks.get",
    "run.tasks.list",
    "run.operations.get",
    "logging.logEntries.list",
  ]
}

# Two of those permissions are never checked on the job: log entries belong to the project, and
# the Operation jobs.run returns is projects/P/locations/L/operations/ID, outside the job. They can
# only be granted on the project; binding the role above there would allow running every job in
# it, so this second role holds just those two (opsctl.permissions.CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS).
# The price: members can read all of the project's logs, as with roles/logging.viewer.
resource "google_project_iam_custom_role" "opsctl_project" {
  project     = var.project
  role_id     = "opsctl_${local.role_base}_project"
  title       = "opsctl project-level reads for ${var.name}"
  description = "Read Cloud Run operations and log entries (project-level permissions) for opsctl."
  permissions = [
    "run.operations.get",
    "logging.logEntries.list",
  ]
}

resource "google_cloud_run_v2_job_iam_member" "opsctl" {
  for_each = local.members
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.admin.name
  role     = google_project_iam_custom_role.opsctl.id
  member   = each.value
}

resource "google_project_iam_member" "opsctl_project" {
  for_each = local.members
  project  = var.project
  role     = google_project_iam_custom_role.opsctl_project.id
  member   = each.value
}

resource "google_service_account" "ci" {
  count        = var.ci_service_account_id == null ? 0 : 1
  project      = var.project
  account_id   = var.ci_service_account_id
  display_name = "opsctl in CI for ${var.name}"
}

# opsctl build: update the job's image, and deploy it as the runtime service account.
resource "google_cloud_run_v2_job_iam_member" "build" {
  count    = var.allow_build && var.ci_service_account_id != null ? 1 : 0
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.admin.name
  role     = "roles/run.developer"
  member   = local.ci_member
}

resource "google_service_account_iam_member" "build_act_as_runtime" {
  count              = var.allow_build && var.ci_service_account_id != null ? 1 : 0
  service_account_id = "projects/${var.project}/serviceAccounts/${var.runtime_service_account_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.ci_member
}
