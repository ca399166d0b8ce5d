variable "name" {
  description = "Name of the Lambda function. Also used for the IAM role, the log group (/aws/lambda/<name>), alarms and event rules."
  type        = string

  validation {
    # 64 is Lambda's and IAM's limit; keep room for the "-rotation-abandoned" event rule suffix.
    condition     = can(regex("^[A-Za-z0-9_-]{1,45}$", var.name))
    error_message = "The name must be 1-45 characters of letters, digits, '-' and '_'."
  }
}

variable "engine" {
  description = "Kind of secret the function rotates: postgres, redis or jwt. Only postgres is allowed to call the RDS describe APIs."
  type        = string

  validation {
    condition     = contains(["postgres", "redis", "jwt"], var.engine)
    error_message = "The engine must be one of: postgres, redis, jwt."
  }
}

variable "package_path" {
  description = "Path to the deployment zip built by `make build`, e.g. target/lambda/secret-rotation-postgres/bootstrap.zip."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip") && fileexists(var.package_path)
    error_message = "The package_path must point to an existing .zip file (run `make build` first)."
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

variable "timeout" {
  description = "Function timeout in seconds (1-900). Each rotation step is one invocation."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "The timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory in MB (128-10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "The memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function; -1 leaves it unreserved. 0 is refused because it would disable rotation."
  type        = number
  default     = 5

  validation {
    condition     = var.reserved_concurrent_executions == -1 || (var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions)
    error_message = "The reserved_concurrent_executions must be -1 or a whole number >= 1."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function. Never put credentials here; they belong in Secrets Manager. ROTATION_BREAK_GLASS_USERS, ROTATION_PRIVILEGED_USERS and the ROTATION_MANAGED_* variables come from break_glass_users, privileged_users and the managed_redis_* inputs."
  type        = map(string)
  default     = {}
}

variable "vpc_config" {
  description = "Run the function in a VPC (needed to reach private databases). When set, the role also gets the ENI permissions Lambda needs."
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
  description = "Create a KMS key for the log group and the module-created SNS topic. Set false to pass kms_key_arn instead."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key for the log group (and the module-created SNS topic) when create_kms_key is false. It must allow CloudWatch Logs and, for the topic, events.amazonaws.com and cloudwatch.amazonaws.com."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN."
  }
}

variable "secret_kms_key_arns" {
  description = "KMS keys that encrypt the secrets this function rotates. Empty means any key of this account and region; either way use is limited to Secrets Manager and to this account's secrets by encryption context."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.secret_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", arn))])
    error_message = "Every secret_kms_key_arns entry must be a KMS key ARN."
  }
}

variable "privileged_secret_arns" {
  description = "Secrets the function may read (DescribeSecret, GetSecretValue) but never write, e.g. the admin secrets named by `masterarn`. DescribeSecret gives the PostgreSQL function the RDS tags of an RDS-managed admin secret."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.privileged_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^*]+$", arn))])
    error_message = "Every privileged_secret_arns entry must be a full Secrets Manager secret ARN without wildcards."
  }
}

variable "break_glass_users" {
  description = "User names, or prefixes ending in `*`, whose credential the function may reset with the admin secret without proof of possession of their current credential (a break-glass reset, audited). Passed as ROTATION_BREAK_GLASS_USERS, comma-joined; unset when empty."
  type        = list(string)
  default     = []

  validation {
    # As the function parses the list: a bare `*` or an inner `*` stops it at the first step.
    condition     = alltrue([for user in var.break_glass_users : can(regex("^[^,\\s*]+\\*?$", user))])
    error_message = "Every break_glass_users entry must be non-empty, without commas and without whitespace; a `*` may only end a non-empty prefix."
  }
}

variable "privileged_users" {
  description = "Admin, superuser or ACL-admin user names (or prefixes ending in `*`) the function may act on through an application secret. Passed as ROTATION_PRIVILEGED_USERS, comma-joined; unset when empty."
  type        = list(string)
  default     = []

  validation {
    # As the function parses the list: a bare `*` or an inner `*` stops it at the first step.
    condition     = alltrue([for user in var.privileged_users : can(regex("^[^,\\s*]+\\*?$", user))])
    error_message = "Every privileged_users entry must be non-empty, without commas and without whitespace; a `*` may only end a non-empty prefix."
  }
}

variable "managed_redis_arns" {
  description = "Managed Redis users and AUTH tokens the redis function may change through AWS control planes: ElastiCache user ARNs (arn:<partition>:elasticache:<region>:<account>:user:<UserId>), MemoryDB user ARNs (arn:<partition>:memorydb:<region>:<account>:user/<UserName>) and ElastiCache replication group ARNs (arn:<partition>:elasticache:<region>:<account>:replicationgroup:<ReplicationGroupId>, for AUTH tokens). Each kind gets its own IAM statement on exactly these ARNs. Passed as ROTATION_MANAGED_REDIS_ARNS, comma-joined; unset when empty. Only with engine = \"redis\"."
  type        = list(string)
  default     = []

  validation {
    # Full ARNs of the three kinds only: no wildcard, no other resource type (a cluster, a user group, ...).
    condition = alltrue([
      for arn in var.managed_redis_arns :
      can(regex("^arn:aws[a-z-]*:elasticache:[a-z0-9-]+:[0-9]{12}:(user|replicationgroup):[A-Za-z][A-Za-z0-9-]*$", arn))
      || can(regex("^arn:aws[a-z-]*:memorydb:[a-z0-9-]+:[0-9]{12}:user/[A-Za-z][A-Za-z0-9-]*$", arn))
    ])
    error_message = "Every managed_redis_arns entry must be a full ElastiCache user ARN (arn:aws:elasticache:<region>:<account>:user:<UserId>), MemoryDB user ARN (arn:aws:memorydb:<region>:<account>:user/<UserName>) or ElastiCache replication group ARN (arn:aws:elasticache:<region>:<account>:replicationgroup:<ReplicationGroupId>), without wildcards."
  }

  validation {
    condition     = length(distinct(var.managed_redis_arns)) == length(var.managed_redis_arns)
    error_message = "The managed_redis_arns must not repeat an ARN."
  }
}

variable "managed_redis_endpoints" {
  description = "Endpoints of managed Redis caches (`host` or `host:port`) the redis function may log in to, over TLS, to test a managed credential's new password (a managed secret's `host`, or `host:port`, must be listed). Passed as ROTATION_MANAGED_REDIS_ENDPOINTS, comma-joined; unset when empty. Only with engine = \"redis\"."
  type        = list(string)
  default     = []

  validation {
    # A DNS name or IPv4 address, optionally with a port 1-65535: no scheme, no wildcard, no comma or whitespace.
    condition = alltrue([
      for endpoint in var.managed_redis_endpoints :
      can(regex("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?$", endpoint))
      && length(split(":", endpoint)[0]) <= 253
      && try(tonumber(split(":", endpoint)[1]) >= 1 && tonumber(split(":", endpoint)[1]) <= 65535, length(split(":", endpoint)) == 1)
    ])
    error_message = "Every managed_redis_endpoints entry must be a host name or IPv4 address, optionally followed by :<port> (1-65535), without wildcards, commas or whitespace."
  }
}

variable "managed_redis_wait_seconds" {
  description = "Longest time, in seconds (1-900), the redis function waits for a managed user or replication group to become active again after a change; null leaves the function's default (600). The function also stops before the Lambda timeout, so keep `timeout` at least this wait + 30 s (a check warns otherwise). Passed as ROTATION_MANAGED_WAIT_SECONDS; unset when null. Only with engine = \"redis\"."
  type        = number
  default     = null

  validation {
    condition     = var.managed_redis_wait_seconds == null || try(var.managed_redis_wait_seconds >= 1 && var.managed_redis_wait_seconds <= 900 && floor(var.managed_redis_wait_seconds) == var.managed_redis_wait_seconds, false)
    error_message = "The managed_redis_wait_seconds must be null or a whole number of seconds between 1 and 900."
  }
}

variable "create_alarm_topic" {
  description = "Create an SNS topic (with a policy letting EventBridge and CloudWatch publish) for the alarms. Set false to pass alarm_topic_arn instead."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic for the error alarm and the rotation failure events when create_alarm_topic is false. It needs a policy letting events.amazonaws.com and cloudwatch.amazonaws.com publish."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "The alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "create_rotation_event_rules" {
  description = "Create EventBridge rules sending Secrets Manager RotationFailed/RotationAbandoned events to the alarm topic. The events are account- and region-wide, so enable this in one module instance per account and region."
  type        = bool
  default     = true
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
