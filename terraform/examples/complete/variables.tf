variable "region" {
  description = "AWS region to deploy the example in."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every name in the example."
  type        = string
  default     = "secret-rotation"

  validation {
    # Also starts the ElastiCache user, user group and cache IDs: a letter first, no "--", no "-" last.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", var.name_prefix)) && !strcontains(var.name_prefix, "--")
    error_message = "The name_prefix must be 1-30 characters of lowercase letters, digits and '-', starting with a letter, not ending with '-' and without '--'."
  }
}

variable "lambda_package_dir" {
  description = "Directory holding secret-rotation-<kind>/bootstrap.zip as built by `make build`. Defaults to the repository's target/lambda."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR block of the example VPC."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "The vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "postgres" {
  description = "Connection details of the PostgreSQL user to rotate. master_secret_arn is the admin secret (masterarn) used to change the password, if any."
  type = object({
    host              = string
    port              = optional(number, 5432)
    username          = string
    dbname            = string
    master_secret_arn = optional(string)
  })
  default = {
    host     = "orders.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com"
    username = "orders_app"
    dbname   = "orders"
  }
}

variable "postgres_password" {
  description = "Current password of the PostgreSQL user (replaced by the first rotation)."
  type        = string
  sensitive   = true
}

variable "redis" {
  description = "The ElastiCache user the Redis function rotates, in the example's serverless cache: user_id (ElastiCache's ID, the end of the user's ARN; default <name_prefix>-sessions-app), username (the login name) and access_string (its permissions). Its initial password is generated, and replaced by the first rotation."
  type = object({
    user_id       = optional(string)
    username      = optional(string, "sessions_app")
    access_string = optional(string, "on ~* +@all -@dangerous")
  })
  default = {}

  validation {
    condition     = var.redis.user_id == null || can(regex("^[a-z][a-z0-9-]*$", var.redis.user_id))
    error_message = "The redis.user_id must start with a lowercase letter and hold only lowercase letters, digits and '-'."
  }

  validation {
    # As the Redis function checks user names; "default" is the user group's disabled default user.
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$", var.redis.username)) && var.redis.username != "default"
    error_message = "The redis.username must be 1-128 characters of letters, digits and _ - . : @, starting with a letter, digit or '_', and not \"default\"."
  }
}

variable "jwt_settings" {
  description = "Extra fields of the JWT signing key secret; the first rotation generates the key itself."
  type        = map(string)
  default     = {}
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource (provider default_tags)."
  type        = map(string)
  default     = { project = "secret-rotation" }
}
