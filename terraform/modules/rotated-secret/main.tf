data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # A boolean, not "arn == null": an ARN created in the same plan is unknown,
  # and count cannot depend on it.
  kms_key_arn = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
}

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "Encrypts the ${var.name} secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # Access is granted by IAM policies (the rotation function's role is limited
  # to use through Secrets Manager for this account's secrets).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EnableIamPolicies"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_secretsmanager_secret" "this" {
  name                    = var.name
  description             = var.description
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "Set kms_key_arn when create_kms_key is false."
    }
    # Set by operators for an emergency rotation and removed by the function
    # afterwards; Terraform must neither re-add nor strip it.
    ignore_changes = [tags["rotation:mode"], tags_all["rotation:mode"]]
  }
}

resource "aws_secretsmanager_secret_version" "this" {
  secret_id     = aws_secretsmanager_secret.this.id
  secret_string = var.secret_string

  lifecycle {
    # Rotation writes new versions; the initial value must not be put back.
    ignore_changes = [secret_string]
  }
}

resource "aws_lambda_permission" "this" {
  statement_id_prefix = "SecretsManagerRotation"
  action              = "lambda:InvokeFunction"
  function_name       = var.rotation_lambda_arn
  principal           = "secretsmanager.amazonaws.com"
  # Taken from the secret's ARN rather than from aws_caller_identity, so it
  # stays known at plan time even when the module call has depends_on.
  source_account = split(":", aws_secretsmanager_secret.this.arn)[4]
  source_arn     = aws_secretsmanager_secret.this.arn
}

resource "aws_secretsmanager_secret_rotation" "this" {
  #checkov:skip=CKV_AWS_304:The interval is the caller's policy (validated in var.rotation_rules); JWT signing keys rotate every 180 days by design.
  secret_id           = aws_secretsmanager_secret.this.id
  rotation_lambda_arn = var.rotation_lambda_arn
  rotate_immediately  = var.rotate_immediately

  rotation_rules {
    automatically_after_days = var.rotation_rules.automatically_after_days
    schedule_expression      = var.rotation_rules.schedule_expression
    duration                 = var.rotation_rules.duration
  }

  # Secrets Manager checks the invoke permission when rotation is configured,
  # and an immediate rotation starts from the initial value.
  depends_on = [aws_lambda_permission.this, aws_secretsmanager_secret_version.this]
}
