# Inputs of the internal module. The public modules (rotation-function, rotation-monitor) validate what
# their users pass; only the contract between them and this module is checked here.

################################################################################
# Function
################################################################################

variable "name" {
  description = "Name of the Lambda function. Also names its IAM role, its log group (/aws/lambda/<name>) and its Errors alarm (<name>-errors)."
  type        = string
}

variable "description" {
  description = "Description of the Lambda function."
  type        = string
}

variable "package_path" {
  description = "Path to the deployment zip holding the function's `bootstrap`; source_code_hash is its filebase64sha256."
  type        = string
}

variable "architecture" {
  description = "Instruction set of the function: x86_64 or arm64. Must match the target the zip was built for."
  type        = string
}

variable "timeout" {
  description = "Function timeout in seconds (1-900)."
  type        = number
}

variable "memory_size" {
  description = "Memory in MB (128-10240)."
  type        = number
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function; -1 leaves it unreserved. 0 is refused because it would stop the function."
  type        = number
}

variable "environment_variables" {
  description = "The function's complete environment (no credentials). Empty means no environment block at all."
  type        = map(string)
  default     = {}
}

variable "vpc_config" {
  description = "Run the function in a VPC. When set, the role also gets the ENI permissions Lambda needs."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

################################################################################
# IAM role
################################################################################

variable "role_description" {
  description = "Description of the function's IAM role."
  type        = string
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the function's IAM role."
  type        = string
  default     = null
}

variable "policy_name" {
  description = "Name of the role's inline policy."
  type        = string
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
}

variable "create_kms_key" {
  description = "Create a KMS key for the log group. Set false to pass kms_key_arn instead; false without kms_key_arn leaves the log group on CloudWatch's default encryption (the callers refuse that plan first)."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key of the log group when create_kms_key is false. It must allow CloudWatch Logs."
  type        = string
  default     = null
}

variable "kms_key_description" {
  description = "Description of the KMS key the module creates."
  type        = string
}

variable "kms_key_policy_statements" {
  description = "Statements appended to the created key's policy, after EnableIamPolicies and AllowCloudWatchLogs (e.g. to let the caller's SNS topic publishers use the key)."
  type        = any
  default     = []
}

################################################################################
# Errors alarm
################################################################################

variable "alarm_topic_arn" {
  description = "SNS topic the Errors alarm notifies (alarm and OK actions). Null leaves the alarm without actions; the callers never pass null (their own check refuses the plan first)."
  type        = string
  default     = null
}

variable "error_alarm_description" {
  description = "Description of the alarm on the function's AWS/Lambda Errors metric."
  type        = string
}

variable "alarm_period_seconds" {
  description = "Period of the Errors alarm in seconds."
  type        = number
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
