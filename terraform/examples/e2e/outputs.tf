output "function_names" {
  description = "Names of the deployed functions: postgres, redis, jwt and monitor."
  value       = merge({ for k, m in module.function : k => m.function_name }, { monitor = module.monitor.function_name })
}

output "function_arns" {
  description = "ARNs of the deployed functions: postgres, redis, jwt and monitor."
  value       = merge({ for k, m in module.function : k => m.function_arn }, { monitor = module.monitor.function_arn })
}

output "role_names" {
  description = "Names of the IAM roles: the functions' (postgres, redis, jwt, monitor) and the operators' (operator)."
  # rotation-monitor outputs only its role's ARN: the name is its last segment.
  value = merge(
    { for k, m in module.function : k => m.role_name },
    { monitor = reverse(split("/", module.monitor.role_arn))[0], operator = aws_iam_role.operator.name },
  )
}

output "secret_arns" {
  description = "ARNs of the rotated secrets: postgres, redis and jwt."
  value       = { for k, m in module.secret : k => m.secret_arn }
}

output "secret_names" {
  description = "Names of the rotated secrets (all under <name_prefix>/, which the monitor watches)."
  value       = { for k, m in module.secret : k => m.secret_name }
}

output "redis_user_arn" {
  description = "ARN of the ElastiCache user whose password the Redis function rotates."
  value       = aws_elasticache_user.app.arn
}

output "monitor_function_name" {
  description = "Name of the rotation health monitor."
  value       = module.monitor.function_name
}

output "monitor_alarm_arns" {
  description = "ARNs of the monitor's alarms (overdue, pending-stuck, silent, errors)."
  value       = module.monitor.alarm_arns
}

output "alarm_topic_arn" {
  description = "SNS topic receiving the alarms and rotation failure events."
  value       = aws_sns_topic.alarms.arn
}

output "kms_key_arn" {
  description = "KMS key of the secrets, log groups and alarm topic."
  value       = aws_kms_key.this.arn
}

output "postgres_admin_secret_arn" {
  description = "ARN of the PostgreSQL admin secret (null without postgres.admin_username)."
  value       = one(aws_secretsmanager_secret.postgres_admin[*].arn)
}
