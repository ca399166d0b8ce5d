################################################################################
# Function
################################################################################

variable "name" {
  description = "Name of the Lambda function. Also names its IAM role, its log group (/aws/lambda/<name>) and its Errors alarm (<name>-errors)."
  type        = string

  validation {
    # 64 is Lambda's and IAM's limit; the callers keep room for their own suffixes.
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "The name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "description" {
  description = "Description of the Lambda function."
  type        = string

  validation {
    condition     = length(var.description) <= 256
    error_message = "The description must be at most 256 characters (Lambda's limit)."
  }
}

variable "package_path" {
  description = "Path to the deployment zip holding the function's `bootstrap`; source_code_hash is its filebase64sha256."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip") && fileexists(var.package_path)
    error_message = "The package_path must point to an existing .zip file."
  }
}

variable "architecture" {
  description = "Instruction set of the function: x86_64 or arm64. Must match the target the zip was built for."
  type        = string

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "timeout" {
  description = "Function timeout in seconds (1-900)."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "The timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory in MB (128-10240)."
  type        = number

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "The memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function; -1 leaves it unreserved. 0 is refused because it would stop the function."
  type        = number

  validation {
    condition     = var.reserved_concurrent_executions == -1 || (var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions)
    error_message = "The reserved_concurrent_executions must be -1 or a whole number >= 1."
  }
}

variable "environment_variables" {
  description = "The function's complete environment (no credentials). Empty means no environment block at all."
  type        = map(string)
  default     = {}

  validation {
    # Lambda's own rule for variable names, checked at plan instead of apply.
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[A-Za-z][A-Za-z0-9_]+$", k))])
    error_message = "Every environment variable name must start with a letter and hold at least two letters, digits or '_'."
  }
}

variable "vpc_config" {
  description = "Run the function in a VPC. When set, the role also gets the ENI permissions Lambda needs."
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

################################################################################
# IAM role
################################################################################

variable "role_description" {
  description = "Description of the function's IAM role."
  type        = string

  validation {
    condition     = length(var.role_description) <= 1000
    error_message = "The role_description must be at most 1000 characters (IAM's limit)."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the function's IAM role."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/", var.role_permissions_boundary))
    error_message = "The role_permissions_boundary must be an IAM policy ARN."
  }
}

variable "policy_name" {
  description = "Name of the role's inline policy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.policy_name))
    error_message = "The policy_name must be 1-128 characters of letters, digits and +=,.@_-."
  }
}

variable "policy_statements" {
  description = "The caller's IAM policy statements (objects with Sid, Effect, Action, Resource and optional Condition). The module appends WriteOwnLogs, SendTraces and, with vpc_config, ManageVpcNetworkInterfaces."
  type        = any

  validation {
    condition = try(alltrue([
      for s in var.policy_statements :
      contains(["Allow", "Deny"], s.Effect) && length(flatten([s.Action])) > 0 && length(flatten([s.Resource])) > 0
      && !contains(["WriteOwnLogs", "SendTraces", "ManageVpcNetworkInterfaces"], s.Sid)
    ]), false)
    error_message = "The policy_statements must be a list of statements with Sid, Effect (Allow or Deny), Action and Resource, none named like the module's own (WriteOwnLogs, SendTraces, ManageVpcNetworkInterfaces)."
  }
}

################################################################################
# Logs and their key
################################################################################

variable "log_retention_in_days" {
  description = "Retention of the /aws/lambda/<name> log group, one of the values CloudWatch Logs allows."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "The log_retention_in_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "create_kms_key" {
  description = "Create a KMS key for the log group. Set false to pass kms_key_arn instead; false without kms_key_arn leaves the log group on CloudWatch's default encryption (the callers refuse that plan first)."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key of the log group when create_kms_key is false. It must allow CloudWatch Logs."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN."
  }
}

variable "kms_key_description" {
  description = "Description of the KMS key the module creates."
  type        = string

  validation {
    condition     = length(var.kms_key_description) <= 8192
    error_message = "The kms_key_description must be at most 8192 characters (KMS's limit)."
  }
}

variable "kms_key_policy_statements" {
  description = "Statements appended to the created key's policy, after EnableIamPolicies and AllowCloudWatchLogs (e.g. to let the caller's SNS topic publishers use the key)."
  type        = any
  default     = []

  validation {
    condition     = try(alltrue([for s in var.kms_key_policy_statements : contains(["Allow", "Deny"], s.Effect) && s.Principal != null && length(flatten([s.Action])) > 0 && s.Resource != null && s.Sid != null]), false)
    error_message = "The kms_key_policy_statements must be a list of key policy statements with Sid, Effect, Principal, Action and Resource."
  }
}

################################################################################
# Errors alarm
################################################################################

variable "alarm_topic_arn" {
  description = "SNS topic the Errors alarm notifies (alarm and OK actions). Null leaves the alarm without actions; the callers never pass null (their own check refuses the plan first)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "The alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "error_alarm_description" {
  description = "Description of the alarm on the function's AWS/Lambda Errors metric."
  type        = string

  validation {
    condition     = length(var.error_alarm_description) > 0 && length(var.error_alarm_description) <= 1024
    error_message = "The error_alarm_description must be 1-1024 characters (CloudWatch's limit)."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the Errors alarm in seconds."
  type        = number

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds <= 86400 && var.alarm_period_seconds % 60 == 0
    error_message = "The alarm_period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
