output "function_name" {
  description = "Name of the monitor function."
  value       = module.lambda.lambda_function.function_name
}

output "function_arn" {
  description = "ARN of the monitor function."
  value       = module.lambda.lambda_function.arn
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = module.lambda.role.arn
}

output "role_policy_json" {
  description = "The inline policy of the role, as JSON."
  value       = module.lambda.role_policy.policy
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = module.lambda.log_group.name

  # Here, not on the log group: that is module.lambda's now, and `terraform
  # test` can only expect failures of this module's own objects. A failing
  # output precondition fails the plan all the same.
  precondition {
    condition     = var.create_kms_key || var.kms_key_arn != null
    error_message = "Set kms_key_arn when create_kms_key is false."
  }
}

output "schedule_rule_arn" {
  description = "ARN of the EventBridge rule that runs the monitor."
  value       = aws_cloudwatch_event_rule.schedule.arn
}

output "schedule_expression" {
  description = "The schedule of the health runs."
  value       = aws_cloudwatch_event_rule.schedule.schedule_expression
}

output "alarm_arns" {
  description = "ARNs of the alarms: overdue, pending-stuck, silent, errors."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.health : k => a.arn },
    { silent = aws_cloudwatch_metric_alarm.silent.arn, errors = module.lambda.error_alarm.arn },
  )
}

output "alarm_actions" {
  description = "Where each alarm notifies, by alarm."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.health : k => a.alarm_actions },
    { silent = aws_cloudwatch_metric_alarm.silent.alarm_actions, errors = module.lambda.error_alarm.alarm_actions },
  )
}
