variable "name" {
  description = "Name of the monitor function. Also names its IAM role, log group (/aws/lambda/<name>), schedule rule and alarms, and is the `Monitor` dimension of its summary metrics."
  type        = string
  default     = "secret-rotation-monitor"

  validation {
    # 64 is Lambda's and IAM's limit; keep room for the "-pending-stuck" alarm suffix.
    condition     = can(regex("^[A-Za-z0-9_-]{1,45}$", var.name))
    error_message = "The name must be 1-45 characters of letters, digits, '-' and '_'."
  }
}

variable "package_path" {
  description = "Path to the monitor's deployment zip, e.g. target/lambda/secret-rotation-monitor/bootstrap.zip."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip") && fileexists(var.package_path)
    error_message = "The package_path must point to an existing .zip file (build the monitor first)."
  }
}

variable "architecture" {
  description = "Instruction set of the function: x86_64 or arm64. Must match the target the zip was built for."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "schedule_expression" {
  description = "EventBridge schedule of the health run: rate(...) or cron(...). Keep alarm_period_seconds equal to its period."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.schedule_expression))
    error_message = "The schedule_expression must be rate(N unit) or cron(...)."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the alarms, in seconds: the interval between two health runs (3600 for rate(1 hour))."
  type        = number
  default     = 3600

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds <= 86400 && var.alarm_period_seconds % 60 == 0
    error_message = "The alarm_period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "pending_stuck_evaluation_periods" {
  description = "Consecutive health runs that must see a stuck AWSPENDING before the alarm fires."
  type        = number
  default     = 2

  validation {
    condition     = var.pending_stuck_evaluation_periods >= 1 && floor(var.pending_stuck_evaluation_periods) == var.pending_stuck_evaluation_periods
    error_message = "The pending_stuck_evaluation_periods must be a whole number >= 1."
  }
}

variable "secret_name_prefix" {
  description = "Check only secrets whose name starts with this prefix (ROTATION_MONITOR_NAME_PREFIX). DescribeSecret is then also limited to those names."
  type        = string
  default     = null

  validation {
    condition     = var.secret_name_prefix == null || can(regex("^[A-Za-z0-9/_+=.@-]+$", var.secret_name_prefix))
    error_message = "The secret_name_prefix may hold only the characters of secret names (letters, digits, /_+=.@-)."
  }
}

variable "secret_tag" {
  description = "Check only secrets with this tag, \"KEY\" or \"KEY=VALUE\" (ROTATION_MONITOR_TAG)."
  type        = string
  default     = null

  validation {
    condition     = var.secret_tag == null || can(regex("^[^=]+(=.*)?$", var.secret_tag))
    error_message = "The secret_tag must be KEY or KEY=VALUE with a non-empty KEY."
  }
}

variable "include_disabled" {
  description = "Also check secrets without rotation (ROTATION_MONITOR_INCLUDE_DISABLED): they are never overdue, but a stuck AWSPENDING is reported."
  type        = bool
  default     = false
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the metrics (ROTATION_METRICS_NAMESPACE); the same as the rotation functions'."
  type        = string
  default     = "SecretRotation"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "The metrics_namespace must be a valid custom CloudWatch namespace (not AWS/...)."
  }
}

variable "timeout" {
  description = "Function timeout in seconds (1-900). One run lists every secret in scope (one ListSecrets call per 100) and describes only those that look unhealthy."
  type        = number
  default     = 120

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "The timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory in MB (128-10240). One run holds the metadata of every secret in scope, about 2.5 KiB each: 128 MB holds about 45,000 secrets (BENCHMARKS.md)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "The memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "environment_variables" {
  description = "Extra environment variables of the function (e.g. RUST_LOG). The ROTATION_* variables are set from the inputs above."
  type        = map(string)
  default     = {}
}

variable "vpc_config" {
  description = "Run the function in a VPC (it then needs a route or an interface endpoint to Secrets Manager). When set, the role also gets the ENI permissions Lambda needs."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition     = var.vpc_config == null || try(length(var.vpc_config.subnet_ids) > 0 && length(var.vpc_config.security_group_ids) > 0, false)
    error_message = "The vpc_config needs at least one subnet id and one security group id (or leave it null)."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the /aws/lambda/<name> log group, one of the values CloudWatch Logs allows."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "The log_retention_in_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "create_kms_key" {
  description = "Create a KMS key for the log group. Set false to pass kms_key_arn instead."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key for the log group when create_kms_key is false. It must allow CloudWatch Logs."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic for the alarms: the one the rotation functions' alarms and rotation events use. Its policy must let cloudwatch.amazonaws.com publish."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "The alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the function's IAM role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
