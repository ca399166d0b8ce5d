terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  # The rotation keeps its log and request tags on each secret (rotation:log:*,
  # rotation:requested-by, rotation:reason, rotation:jwt-verify-until); they
  # are not Terraform's to remove.
  ignore_tags {
    keys         = ["rotation:requested-by", "rotation:reason", "rotation:jwt-verify-until"]
    key_prefixes = ["rotation:log:"]
  }

  default_tags {
    tags = var.tags
  }
}
