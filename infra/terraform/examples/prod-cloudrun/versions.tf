terraform {
  required_version = ">= 1.9" # the modules' variable validations refer to other variables

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
