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
    condition     = can(regex("^[a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "The name_prefix must be 1-30 characters of lowercase letters, digits and '-'."
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
  description = "Connection details of the Redis ACL user to rotate."
  type = object({
    host     = string
    port     = optional(number, 6379)
    username = string
  })
  default = {
    host     = "master.sessions.abcdef.euw1.cache.amazonaws.com"
    username = "sessions_app"
  }
}

variable "redis_password" {
  description = "Current password of the Redis ACL user (replaced by the first rotation)."
  type        = string
  sensitive   = true
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
