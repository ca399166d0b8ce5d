# The checks on how inputs combine sit on outputs: the resources they guarded
# are module.lambda's now, and `terraform test` can only expect failures of
# this module's own objects. A failing output precondition fails the plan all
# the same.

output "function_name" {
  description = "Name of the rotation function."
  value       = module.lambda.lambda_function.function_name

  # See check "managed_redis_wait_fits_in_timeout" in main.tf for the warning above this floor.
  precondition {
    condition     = length(var.managed_redis_arns) == 0 || var.timeout >= local.managed_redis_minimum_timeout
    error_message = "With managed_redis_arns the timeout must be at least ${local.managed_redis_minimum_timeout} seconds: a managed user or replication group takes minutes to become active again after a change (preferably timeout >= managed_redis_wait_seconds + ${local.managed_redis_wait_margin_seconds})."
  }
}

output "function_arn" {
  description = "ARN of the rotation function, for aws_secretsmanager_secret_rotation.rotation_lambda_arn."
  value       = module.lambda.lambda_function.arn

  # One place for each list: the typed variables are validated, a map entry is not.
  precondition {
    condition     = length(setintersection(keys(var.environment_variables), local.reserved_environment_variables)) == 0
    error_message = "Set ROTATION_BREAK_GLASS_USERS, ROTATION_PRIVILEGED_USERS, ROTATION_MANAGED_REDIS_ARNS, ROTATION_MANAGED_REDIS_ENDPOINTS and ROTATION_MANAGED_WAIT_SECONDS through break_glass_users, privileged_users and managed_redis_arns, managed_redis_endpoints, managed_redis_wait_seconds, not environment_variables."
  }
}

output "vpc_subnet_ids" {
  description = "Subnets the function is attached to (empty outside a VPC)."
  value       = module.lambda.vpc_subnet_ids
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = module.lambda.role.arn
}

output "role_name" {
  description = "Name of the function's IAM role."
  value       = module.lambda.role.name
}

output "role_policy_json" {
  description = "The inline policy of the role, as JSON."
  value       = module.lambda.role_policy.policy

  # Only the redis function rotates managed Redis users: no other engine gets
  # their IAM statements or their part of the trust boundary.
  precondition {
    condition     = var.engine == "redis" || (length(var.managed_redis_arns) == 0 && length(var.managed_redis_endpoints) == 0 && var.managed_redis_wait_seconds == null)
    error_message = "The managed_redis_arns, managed_redis_endpoints and managed_redis_wait_seconds are only for engine = \"redis\"."
  }
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = module.lambda.log_group.name

  precondition {
    condition     = var.create_kms_key || var.kms_key_arn != null
    error_message = "Set kms_key_arn when create_kms_key is false."
  }
}

output "kms_key_arn" {
  description = "KMS key used for the log group and the module-created topic."
  value       = module.lambda.kms_key_arn
}

output "alarm_topic_arn" {
  description = "SNS topic receiving the error alarm and rotation failure events."
  value       = local.alarm_topic_arn
}

output "error_alarm_arn" {
  description = "ARN of the CloudWatch alarm on the function's Errors metric."
  value       = module.lambda.error_alarm.arn

  precondition {
    condition     = var.create_alarm_topic || var.alarm_topic_arn != null
    error_message = "Set alarm_topic_arn when create_alarm_topic is false."
  }
}

output "rotation_event_rule_arns" {
  description = "ARNs of the EventBridge rules for RotationFailed/RotationAbandoned, by kind (empty when disabled)."
  value       = { for k, r in aws_cloudwatch_event_rule.rotation : k => r.arn }
}

output "operator_policy_json" {
  description = "IAM policy for operators who run rotationctl status, history, rotate and emergency (not --local) on the secrets this function rotates: no secret value, no KMS, no other function. Attach it to their roles."
  value       = jsonencode(local.operator_policy)
}
