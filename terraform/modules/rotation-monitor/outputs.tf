output "function_name" {
  description = "Name of the monitor function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the monitor function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.this.arn
}

output "role_policy_json" {
  description = "The inline policy of the role, as JSON."
  value       = aws_iam_role_policy.this.policy
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
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
    { silent = aws_cloudwatch_metric_alarm.silent.arn, errors = aws_cloudwatch_metric_alarm.errors.arn },
  )
}

output "alarm_actions" {
  description = "Where each alarm notifies, by alarm."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.health : k => a.alarm_actions },
    { silent = aws_cloudwatch_metric_alarm.silent.alarm_actions, errors = aws_cloudwatch_metric_alarm.errors.alarm_actions },
  )
}
