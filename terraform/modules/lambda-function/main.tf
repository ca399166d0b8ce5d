data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  arn_prefix = "arn:${data.aws_partition.current.partition}"

  # Built from strings, not from aws_cloudwatch_log_group.this.arn: the role
  # policy and the key policy exist before the log group and the function.
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  # A boolean, not "arn == null": an ARN created in the same plan is unknown,
  # and count cannot depend on it.
  kms_key_arn = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  # The caller's statements, then what any function of this module needs for
  # itself: its own logs, its traces and, in a VPC, its network interfaces.
  policy_statements = concat(
    var.policy_statements,
    [
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.log_group_arn}:*"
      },
      {
        # X-Ray has no resource-level permissions for these actions.
        Sid      = "SendTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = "*"
      },
    ],
    var.vpc_config == null ? [] : [
      {
        # Lambda needs these to attach the function to the VPC; the describe
        # call has no resource-level permissions, so "*" as in the AWS-managed
        # AWSLambdaVPCAccessExecutionRole policy.
        Sid      = "ManageVpcNetworkInterfaces"
        Effect   = "Allow"
        Action   = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
        Resource = "*"
      },
    ],
  )

  kms_key_statements = concat(
    [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "${local.arn_prefix}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowCloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn } }
      },
    ],
    var.kms_key_policy_statements,
  )
}

################################################################################
# KMS key for the logs (unless one is passed in)
################################################################################

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = var.kms_key_description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_key_statements })
  tags                    = var.tags
}

################################################################################
# IAM role
################################################################################

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = var.role_description
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = var.policy_name
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}

################################################################################
# Function and its logs
################################################################################

# The callers refuse create_kms_key = false without kms_key_arn themselves (on
# an output, where their tests can expect the failure), so there is no
# precondition here to report the same mistake twice.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:No dead-letter queue needed: Secrets Manager invokes rotation synchronously (failures surface as RotationFailed events, routed to SNS), and a failed scheduled monitor run raises the Errors alarm and is repeated by the next run.
  #checkov:skip=CKV_AWS_272:The zip comes from the repository's own `make build`; code signing can be layered on by the caller.
  #checkov:skip=CKV_AWS_173:The environment holds no credentials (they live in Secrets Manager), only names, lists and filters, so the AWS-managed key is enough.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrent_executions

  tracing_config {
    mode = "Active"
  }

  dynamic "environment" {
    for_each = length(var.environment_variables) > 0 ? [var.environment_variables] : []
    content {
      variables = environment.value
    }
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  # The log group must exist first (else Lambda creates one without retention)
  # and the ENI permissions are needed while the function is created.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

################################################################################
# Alarm on the function's errors
################################################################################

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = var.error_alarm_description
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  # compact: a null topic means no actions, not a provider error that would
  # hide the caller's own "Set alarm_topic_arn ..." check.
  alarm_actions = compact([var.alarm_topic_arn])
  ok_actions    = compact([var.alarm_topic_arn])
  tags          = var.tags
}
