variable "endpoint" {
  description = "URL of the AWS emulator every service is called at (the test kit's moto server), e.g. http://127.0.0.1:5000."
  type        = string

  validation {
    condition     = can(regex("^https?://[^\\s/]+/?$", var.endpoint))
    error_message = "The endpoint must be an http:// or https:// URL of a host (and port), without a path, e.g. http://127.0.0.1:5000."
  }
}

variable "region" {
  description = "Region of the emulated resources."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must be a region name such as us-east-1."
  }
}

variable "access_key" {
  description = "Access key id the provider signs with. The emulator checks no signature; moto answers in the account of an IAM access key it issued (CreateAccessKey, AssumeRole), and in its default account 123456789012 for any other id."
  type        = string
  default     = "testing"

  validation {
    condition     = length(var.access_key) > 0
    error_message = "The access_key must not be empty."
  }
}

variable "secret_key" {
  description = "Secret access key the provider signs with (the emulator checks none)."
  type        = string
  default     = "testing"
  sensitive   = true

  validation {
    condition     = length(var.secret_key) > 0
    error_message = "The secret_key must not be empty."
  }
}

variable "name_prefix" {
  description = "Prefix of every name in the example (functions, roles, secrets <name_prefix>/..., ElastiCache user ID); make it unique per run on a shared emulator."
  type        = string
  default     = "e2e"

  validation {
    # Also starts the ElastiCache user ID: a letter first, no "--", no "-" last.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", var.name_prefix)) && !strcontains(var.name_prefix, "--")
    error_message = "The name_prefix must be 1-30 characters of lowercase letters, digits and '-', starting with a letter, not ending with '-' and without '--'."
  }
}

variable "lambda_package_dir" {
  description = "Directory holding secret-rotation-<kind>/bootstrap.zip for postgres, redis, jwt and monitor (the zips `make build` writes to target/lambda, or the test's own)."
  type        = string

  validation {
    condition     = alltrue([for kind in ["postgres", "redis", "jwt", "monitor"] : fileexists("${var.lambda_package_dir}/secret-rotation-${kind}/bootstrap.zip")])
    error_message = "The lambda_package_dir must hold secret-rotation-postgres, -redis, -jwt and -monitor/bootstrap.zip."
  }
}

variable "postgres" {
  description = "The PostgreSQL user to rotate, which must exist (the test creates it): host, port, username, its current password, dbname and ssl (omitted: TLS with verify-full, the function's default; false: plaintext). With admin_username and admin_password, the example stores them in an admin secret that the application secret's masterarn names, and the users alternate (<user> / <user>_clone); without, single-user: the user changes its own password."
  type = object({
    host     = string
    port     = optional(number, 5432)
    username = string
    password = string
    dbname   = string
    ssl      = optional(bool)
    # The admin (CREATEROLE) the function acts as for alternating users; both or neither.
    admin_username = optional(string)
    admin_password = optional(string)
  })
  sensitive = true

  validation {
    condition     = (var.postgres.admin_username == null) == (var.postgres.admin_password == null)
    error_message = "Give both postgres.admin_username and postgres.admin_password, or neither."
  }

  validation {
    condition     = length(var.postgres.host) > 0 && length(var.postgres.password) > 0 && length(var.postgres.dbname) > 0
    error_message = "The postgres host, password and dbname must not be empty."
  }

  validation {
    # As the function checks user names: PostgreSQL would truncate a longer one silently.
    condition     = length(var.postgres.username) > 0 && length(var.postgres.username) <= 63
    error_message = "The postgres username must be 1-63 characters."
  }

  validation {
    condition     = var.postgres.port >= 1 && var.postgres.port <= 65535 && floor(var.postgres.port) == var.postgres.port
    error_message = "The postgres port must be a whole number between 1 and 65535."
  }
}

variable "redis" {
  description = "Where the ElastiCache user's cache listens, a TLS redis-server of the test (host, port), the PEM CA bundle its certificate chains to (ca_bundle), and the user the example creates: username (login name) and access_string. Its initial password is generated; the Redis function rotates it through ModifyUser. extra_managed_arns: managed Redis created elsewhere (ElastiCache/MemoryDB users, replication groups with an AUTH token, on the same host) that the Redis function may rotate too."
  type = object({
    host          = string
    port          = number
    ca_bundle     = string
    username      = optional(string, "redis_app")
    access_string = optional(string, "on ~* +@all -@dangerous")
    # Managed Redis created outside the example whose secrets the same function
    # rotates: ElastiCache/MemoryDB user ARNs, replication group ARNs (AUTH tokens).
    extra_managed_arns = optional(list(string), [])
  })

  validation {
    # As rotation-function's managed_redis_endpoints takes it: a DNS name or IPv4 address.
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$", var.redis.host))
    error_message = "The redis host must be a host name or IPv4 address (no port, scheme or wildcard)."
  }

  validation {
    condition     = var.redis.port >= 1 && var.redis.port <= 65535 && floor(var.redis.port) == var.redis.port
    error_message = "The redis port must be a whole number between 1 and 65535."
  }

  validation {
    condition     = startswith(trimspace(var.redis.ca_bundle), "-----BEGIN CERTIFICATE-----")
    error_message = "The redis ca_bundle must be PEM certificates (-----BEGIN CERTIFICATE-----)."
  }

  validation {
    # As the Redis function checks user names; "default" is the built-in user.
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$", var.redis.username)) && var.redis.username != "default"
    error_message = "The redis username must be 1-128 characters of letters, digits and _ - . : @, starting with a letter, digit or '_', and not \"default\"."
  }
}

variable "rotate_immediately" {
  description = "Passed to rotated-secret: apply configures rotation with RotateSecret, which stages a rotation of each secret (an empty AWSPENDING version) for the test to drive. Set false to only configure the schedule."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource (provider default_tags). The emulator drops ElastiCache users' tags, which the user's lifecycle ignores."
  type        = map(string)
  default     = { project = "secret-rotation-e2e" }
}
