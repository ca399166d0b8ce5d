terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

# Every service the modules and this example call, pointed at the emulator;
# static test credentials, no STS, IMDS or region look-ups. max_retries = 1:
# the emulator answers an action it does not implement with a 500, which the
# SDK would otherwise retry for minutes before reporting it.
provider "aws" {
  region     = var.region
  access_key = var.access_key
  secret_key = var.secret_key

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 1

  # The rotation keeps its log and request tags on each secret (rotation:log:*,
  # rotation:requested-by, rotation:reason, rotation:jwt-verify-until); they
  # are not Terraform's to remove.
  ignore_tags {
    keys         = ["rotation:requested-by", "rotation:reason", "rotation:jwt-verify-until"]
    key_prefixes = ["rotation:log:"]
  }

  endpoints {
    cloudwatch     = var.endpoint
    elasticache    = var.endpoint
    events         = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    lambda         = var.endpoint
    logs           = var.endpoint
    secretsmanager = var.endpoint
    sns            = var.endpoint
    sts            = var.endpoint
  }

  default_tags {
    tags = var.tags
  }
}
