# Whole resource objects: the callers read their attributes for their own
# outputs, and their tests assert on them (a test cannot reference a resource
# inside a child module directly).

output "lambda_function" {
  description = "The aws_lambda_function (function_name, arn, environment, vpc_config, ...)."
  value       = aws_lambda_function.this
}

output "vpc_subnet_ids" {
  description = "Subnets the function is attached to (empty outside a VPC)."
  value       = try(aws_lambda_function.this.vpc_config[0].subnet_ids, [])
}

output "role" {
  description = "The function's aws_iam_role."
  value       = aws_iam_role.this
}

output "role_policy" {
  description = "The role's aws_iam_role_policy; its policy holds the caller's statements and the module's own."
  value       = aws_iam_role_policy.this
}

output "log_group" {
  description = "The function's aws_cloudwatch_log_group, /aws/lambda/<name>."
  value       = aws_cloudwatch_log_group.this
}

output "kms_key" {
  description = "The aws_kms_key the module created: a list of one, or empty when kms_key_arn was passed."
  value       = aws_kms_key.this
}

output "kms_key_arn" {
  description = "KMS key of the log group: the created one, or kms_key_arn."
  value       = local.kms_key_arn
}

output "error_alarm" {
  description = "The aws_cloudwatch_metric_alarm on the function's AWS/Lambda Errors metric."
  value       = aws_cloudwatch_metric_alarm.errors
}
