output "function_name" {
  description = "Name of the rotation function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the rotation function, for aws_secretsmanager_secret_rotation.rotation_lambda_arn."
  value       = aws_lambda_function.this.arn
}

output "vpc_subnet_ids" {
  description = "Subnets the function is attached to (empty outside a VPC)."
  value       = try(aws_lambda_function.this.vpc_config[0].subnet_ids, [])
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's IAM role."
  value       = aws_iam_role.this.name
}

output "role_policy_json" {
  description = "The inline policy of the role, as JSON."
  value       = aws_iam_role_policy.this.policy
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "kms_key_arn" {
  description = "KMS key used for the log group and the module-created topic."
  value       = local.kms_key_arn
}

output "alarm_topic_arn" {
  description = "SNS topic receiving the error alarm and rotation failure events."
  value       = local.alarm_topic_arn
}

output "error_alarm_arn" {
  description = "ARN of the CloudWatch alarm on the function's Errors metric."
  value       = aws_cloudwatch_metric_alarm.errors.arn
}

output "rotation_event_rule_arns" {
  description = "ARNs of the EventBridge rules for RotationFailed/RotationAbandoned, by kind (empty when disabled)."
  value       = { for k, r in aws_cloudwatch_event_rule.rotation : k => r.arn }
}
