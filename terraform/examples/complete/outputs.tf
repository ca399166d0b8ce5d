output "function_arns" {
  description = "ARNs of the rotation functions, by engine."
  value       = { for k, m in module.function : k => m.function_arn }
}

output "secret_arns" {
  description = "ARNs of the rotated secrets, by engine."
  value       = { for k, m in module.secret : k => m.secret_arn }
}

output "alarm_topic_arn" {
  description = "SNS topic receiving the alarms and rotation failure events."
  value       = aws_sns_topic.alarms.arn
}

output "vpc_id" {
  description = "ID of the example VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets the functions run in."
  value       = aws_subnet.private[*].id
}

output "monitor_function_arn" {
  description = "ARN of the rotation health monitor."
  value       = module.monitor.function_arn
}

output "monitor_alarm_arns" {
  description = "ARNs of the monitor's alarms (overdue, pending-stuck, silent, errors)."
  value       = module.monitor.alarm_arns
}

output "redis_endpoint" {
  description = "Address and port of the serverless Valkey cache's endpoint (TLS), where the rotated user logs in."
  value       = aws_elasticache_serverless_cache.redis.endpoint
}

output "redis_user_arn" {
  description = "ARN of the ElastiCache user whose password the Redis function rotates."
  value       = aws_elasticache_user.app.arn
}
