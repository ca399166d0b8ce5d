output "secret_arn" {
  description = "ARN of the secret."
  value       = aws_secretsmanager_secret.this.arn
}

output "secret_id" {
  description = "ID of the secret (same as its ARN)."
  value       = aws_secretsmanager_secret.this.id
}

output "secret_name" {
  description = "Name of the secret."
  value       = aws_secretsmanager_secret.this.name
}

output "kms_key_arn" {
  description = "KMS key that encrypts the secret; give it to the rotation function (secret_kms_key_arns)."
  value       = local.kms_key_arn
}

output "initial_version_id" {
  description = "Version ID of the initial value (rotation adds newer versions)."
  value       = aws_secretsmanager_secret_version.this.version_id
}

output "rotation_rules" {
  description = "The rotation rules in force."
  value       = aws_secretsmanager_secret_rotation.this.rotation_rules
}

output "rotation_lambda_permission" {
  description = "The permission letting Secrets Manager invoke the rotation function for this secret only."
  value = {
    statement_id   = aws_lambda_permission.this.statement_id
    function_name  = aws_lambda_permission.this.function_name
    principal      = aws_lambda_permission.this.principal
    source_account = aws_lambda_permission.this.source_account
    source_arn     = aws_lambda_permission.this.source_arn
  }
}
