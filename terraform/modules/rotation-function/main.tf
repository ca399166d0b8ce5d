data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  arn_prefix = "arn:${local.partition}"

  # Built from strings, not from aws_lambda_function.this.arn: the role policy
  # has to exist before the function, so referencing the function would cycle.
  function_arn   = "${local.arn_prefix}:lambda:${local.region}:${local.account_id}:function:${var.name}"
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  account_secret = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:*"

  # Booleans, not "arn == null": an ARN created in the same plan is unknown,
  # and count cannot depend on it.
  kms_key_arn     = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  alarm_topic_arn = var.create_alarm_topic ? aws_sns_topic.this[0].arn : var.alarm_topic_arn

  # Secrets Manager sets this resource key on a secret whose rotation function
  # is this one, so write access never reaches secrets rotated by anything else.
  rotation_lambda_condition = {
    "secretsmanager:resource/AllowRotationLambdaArn" = local.function_arn
  }

  policy_statements = concat(
    [
      {
        Sid       = "RotateOwnSecrets"
        Effect    = "Allow"
        Action    = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
        Resource  = local.account_secret
        Condition = { StringEquals = local.rotation_lambda_condition }
      },
      {
        # The function removes the rotation:mode tag after an emergency rotation.
        Sid      = "RemoveRotationModeTag"
        Effect   = "Allow"
        Action   = ["secretsmanager:UntagResource"]
        Resource = local.account_secret
        Condition = {
          StringEquals                = local.rotation_lambda_condition
          "ForAllValues:StringEquals" = { "aws:TagKeys" = ["rotation:mode"] }
        }
      },
      {
        # Secrets Manager decrypts for GetSecretValue and asks for a data key
        # for PutSecretValue; it never calls kms:Encrypt for a secret value.
        Sid      = "UseSecretKeysThroughSecretsManager"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = length(var.secret_kms_key_arns) > 0 ? var.secret_kms_key_arns : ["${local.arn_prefix}:kms:${local.region}:${local.account_id}:key/*"]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.${local.dns_suffix}" }
          StringLike   = { "kms:EncryptionContext:SecretARN" = local.account_secret }
        }
      },
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
    length(var.privileged_secret_arns) == 0 ? [] : [
      {
        # DescribeSecret: an RDS-managed admin secret holds no host, so the
        # PostgreSQL function reads the aws:rds:primaryDB*Arn tags that name
        # its database.
        Sid      = "ReadPrivilegedSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = var.privileged_secret_arns
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
    var.engine != "postgres" ? [] : [
      {
        # Resolves host and port of the RDS instance or Aurora cluster.
        Sid      = "DescribeRdsDatabases"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
        Resource = ["${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*", "${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*"]
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
        Principal = { Service = "logs.${local.region}.${local.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn } }
      },
    ],
    var.create_alarm_topic ? [
      {
        Sid       = "AllowAlarmPublishers"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ] : [],
  )

  # Lists go to the function comma-joined; a variable is set only when its
  # list is non-empty, so an unset list and an empty one read the same.
  function_environment = merge(
    var.environment_variables,
    length(var.break_glass_users) == 0 ? {} : { ROTATION_BREAK_GLASS_USERS = join(",", var.break_glass_users) },
    length(var.privileged_users) == 0 ? {} : { ROTATION_PRIVILEGED_USERS = join(",", var.privileged_users) },
  )

  rotation_events = {
    failed    = "RotationFailed"
    abandoned = "RotationAbandoned"
  }
}

################################################################################
# KMS key for logs and the alarm topic (unless one is passed in)
################################################################################

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "Logs and alarms of the ${var.name} rotation function"
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
  description          = "Execution role of the ${var.name} secret rotation function"
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
  name   = "secret-rotation"
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}

################################################################################
# Function and its logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "Set kms_key_arn when create_kms_key is false."
    }
  }
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Secrets Manager invokes rotation synchronously; failures surface as RotationFailed events, which the module routes to SNS.
  #checkov:skip=CKV_AWS_272:The zip comes from the repository's own `make build`; code signing can be layered on by the caller.
  #checkov:skip=CKV_AWS_173:The environment holds no credentials (they live in Secrets Manager), so the AWS-managed key is enough.
  function_name                  = var.name
  description                    = "Rotates ${var.engine} secrets for AWS Secrets Manager"
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
    for_each = length(local.function_environment) > 0 ? [local.function_environment] : []
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

  lifecycle {
    # One place for each list: the typed variables are validated, a map entry is not.
    precondition {
      condition     = !contains(keys(var.environment_variables), "ROTATION_BREAK_GLASS_USERS") && !contains(keys(var.environment_variables), "ROTATION_PRIVILEGED_USERS")
      error_message = "Set ROTATION_BREAK_GLASS_USERS and ROTATION_PRIVILEGED_USERS through break_glass_users and privileged_users, not environment_variables."
    }
  }
}

################################################################################
# Alarms: function errors and failed/abandoned rotations, to SNS
################################################################################

resource "aws_sns_topic" "this" {
  count = var.create_alarm_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "this" {
  count = var.create_alarm_topic ? 1 : 0

  arn = aws_sns_topic.this[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AllowEventBridgeRules"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.this[0].arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.arn_prefix}:events:${local.region}:${local.account_id}:rule/${var.name}-*" }
        }
      },
      {
        Sid       = "AllowCloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.this[0].arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*" }
        }
      },
    ]
  })
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "The ${var.name} secret rotation function reported errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = var.create_alarm_topic || var.alarm_topic_arn != null
      error_message = "Set alarm_topic_arn when create_alarm_topic is false."
    }
  }
}

resource "aws_cloudwatch_event_rule" "rotation" {
  for_each = var.create_rotation_event_rules ? local.rotation_events : {}

  name        = "${var.name}-rotation-${each.key}"
  description = "Secrets Manager ${each.value} events"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventSource = ["secretsmanager.amazonaws.com"]
      eventName   = [each.value]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "rotation" {
  for_each = aws_cloudwatch_event_rule.rotation

  rule      = each.value.name
  target_id = "alarm-topic"
  arn       = local.alarm_topic_arn

  lifecycle {
    precondition {
      condition     = var.create_alarm_topic || var.alarm_topic_arn != null
      error_message = "Set alarm_topic_arn when create_alarm_topic is false."
    }
  }
}
