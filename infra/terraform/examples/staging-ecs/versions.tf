terraform {
  required_version = ">= 1.9" # the modules' variable validations refer to other variables

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      app       = "clinloop"
      env       = "staging"
      component = "opsctl-admin"
    }
  }
}
