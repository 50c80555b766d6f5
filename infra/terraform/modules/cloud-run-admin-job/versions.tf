terraform {
  required_version = ">= 1.9" # variable validations that refer to other variables

  required_providers {
    google = {
      source = "hashicorp/google"
      # deletion_protection on google_cloud_run_v2_job arrived in 6.0.
      version = ">= 6.0"
    }
  }
}
