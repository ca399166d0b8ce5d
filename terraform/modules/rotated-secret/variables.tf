variable "name" {
  description = "Name of the secret, e.g. prod/orders/postgres-app."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.name))
    error_message = "The name must be 1-512 characters of letters, digits and /_+=.@-."
  }
}

variable "description" {
  description = "Description of the secret."
  type        = string
  default     = "Rotated by a secret-rotation Lambda function"
}

variable "secret_string" {
  description = "Initial JSON value of the secret, e.g. {\"engine\":\"postgres\",\"host\":...}, or, for a managed Redis user or AUTH token rotated by the redis function, AWS's ElastiCache rotation format {\"user_arn\":...,\"username\":...,\"password\":...} (or {\"replication_group_arn\":...,\"password\":...}), which needs no engine. Only used on creation: rotation replaces it, and later changes are ignored."
  type        = string
  sensitive   = true

  validation {
    # The engines' names and the aliases their functions accept (AWS's spellings for PostgreSQL);
    # or AWS's ElastiCache rotation format, which names no engine: the redis function takes it by
    # its user_arn (ElastiCache or MemoryDB user) or replication_group_arn (AUTH token).
    condition     = contains(["postgres", "postgresql", "aurora-postgresql", "redis", "jwt"], try(jsondecode(var.secret_string).engine, "")) || (can(jsondecode(var.secret_string).user_arn) || can(jsondecode(var.secret_string).replication_group_arn)) && !can(jsondecode(var.secret_string).engine)
    error_message = "The secret_string must be a JSON object whose \"engine\" is postgres (or postgresql, aurora-postgresql), redis or jwt, or AWS's ElastiCache rotation format for a managed Redis user (user_arn, username, password) or AUTH token (replication_group_arn, password)."
  }

  validation {
    # A managed Redis value names its user or replication group by a full ARN (a form the redis
    # function's managed_redis_arns accepts) and carries its login. Each term has its own try or
    # can: the operators evaluate both sides, and a missing field must not fail another engine.
    condition = (
      (can(jsondecode(var.secret_string).user_arn) || can(jsondecode(var.secret_string).replication_group_arn)) == false
      || (
        can(jsondecode(var.secret_string).user_arn) != can(jsondecode(var.secret_string).replication_group_arn)
        && try(jsondecode(var.secret_string).engine == "redis", true)
        && try(length(jsondecode(var.secret_string).password) > 0, false)
        && (
          can(jsondecode(var.secret_string).user_arn) == false
          || (
            can(regex("^arn:aws[a-z-]*:(elasticache:[a-z0-9-]+:[0-9]{12}:user:|memorydb:[a-z0-9-]+:[0-9]{12}:user/)[A-Za-z][A-Za-z0-9-]*$", jsondecode(var.secret_string).user_arn))
            && try(length(jsondecode(var.secret_string).username) > 0, false)
          )
        )
        && (
          can(jsondecode(var.secret_string).replication_group_arn) == false
          || can(regex("^arn:aws[a-z-]*:elasticache:[a-z0-9-]+:[0-9]{12}:replicationgroup:[A-Za-z][A-Za-z0-9-]*$", jsondecode(var.secret_string).replication_group_arn))
        )
      )
    )
    error_message = "A managed Redis secret_string needs exactly one of user_arn (a full ElastiCache user ARN arn:aws:elasticache:<region>:<account>:user:<UserId> or MemoryDB user ARN arn:aws:memorydb:<region>:<account>:user/<UserName>, with a username) and replication_group_arn (arn:aws:elasticache:<region>:<account>:replicationgroup:<ReplicationGroupId>), a non-empty password, and no engine other than redis."
  }
}

variable "create_kms_key" {
  description = "Create a KMS key (with key rotation) for the secret. Set false to pass kms_key_arn instead."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secret when create_kms_key is false."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN."
  }
}

variable "recovery_window_in_days" {
  description = "Days Secrets Manager keeps the secret after deletion: 0 (delete at once) or 7-30."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "The recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "rotation_lambda_arn" {
  description = "ARN of the rotation function (output function_arn of the rotation-function module)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", var.rotation_lambda_arn))
    error_message = "The rotation_lambda_arn must be an unqualified Lambda function ARN."
  }
}

variable "rotation_rules" {
  description = "When to rotate: exactly one of automatically_after_days (1-1000) or schedule_expression (rate(...) or cron(...)), and optionally the window duration (e.g. \"3h\")."
  type = object({
    automatically_after_days = optional(number)
    schedule_expression      = optional(string)
    duration                 = optional(string)
  })

  validation {
    condition     = (var.rotation_rules.automatically_after_days == null) != (var.rotation_rules.schedule_expression == null)
    error_message = "Set exactly one of rotation_rules.automatically_after_days and rotation_rules.schedule_expression (not both, not neither)."
  }

  validation {
    condition     = var.rotation_rules.automatically_after_days == null || try(var.rotation_rules.automatically_after_days >= 1 && var.rotation_rules.automatically_after_days <= 1000 && floor(var.rotation_rules.automatically_after_days) == var.rotation_rules.automatically_after_days, false)
    error_message = "The rotation_rules.automatically_after_days must be a whole number between 1 and 1000."
  }

  validation {
    condition     = var.rotation_rules.schedule_expression == null || can(regex("^(rate|cron)\\(.+\\)$", var.rotation_rules.schedule_expression))
    error_message = "The rotation_rules.schedule_expression must be rate(...) or cron(...)."
  }

  validation {
    condition     = var.rotation_rules.duration == null || can(regex("^([1-9]|1[0-9]|2[0-4])h$", var.rotation_rules.duration))
    error_message = "The rotation_rules.duration must be between 1h and 24h, e.g. \"3h\"."
  }
}

variable "rotate_immediately" {
  description = "Rotate as soon as rotation is configured. Set false to adopt an existing value (e.g. a password already in use) and first rotate at the next scheduled window."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of the secret (and of the KMS key the module creates). The rotation:mode tag read by the functions is not set by default; Terraform ignores later changes to it, because the function removes it after an emergency rotation."
  type        = map(string)
  default     = {}
}
