data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  arn_prefix = "arn:${data.aws_partition.current.partition}"

  # Built from strings, not from aws_lambda_function.this.arn, like the
  # rotation-function module: the policy exists before the function.
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  # DescribeSecret on the secrets the monitor may check: all of this account
  # and region, or only those under secret_name_prefix.
  described_secrets = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secret_name_prefix == null ? "" : var.secret_name_prefix}*"

  # Metadata only: no GetSecretValue, no KMS. The monitor reads no secret value.
  policy_statements = concat(
    [
      {
        # ListSecrets has no resource-level permissions.
        Sid      = "ListSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:ListSecrets"]
        Resource = "*"
      },
      {
        Sid      = "DescribeSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret"]
        Resource = local.described_secrets
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
    var.vpc_config == null ? [] : [
      {
        # As in the AWS-managed AWSLambdaVPCAccessExecutionRole policy.
        Sid      = "ManageVpcNetworkInterfaces"
        Effect   = "Allow"
        Action   = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
        Resource = "*"
      },
    ],
  )

  environment = merge(
    var.environment_variables,
    {
      ROTATION_METRICS_NAMESPACE        = var.metrics_namespace
      ROTATION_MONITOR_NAME             = var.name
      ROTATION_MONITOR_INCLUDE_DISABLED = tostring(var.include_disabled)
    },
    var.secret_name_prefix == null ? {} : { ROTATION_MONITOR_NAME_PREFIX = var.secret_name_prefix },
    var.secret_tag == null ? {} : { ROTATION_MONITOR_TAG = var.secret_tag },
  )

  kms_key_arn = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  # The summary metrics the monitor writes once per run (dimension Monitor).
  alarms = {
    overdue = {
      description = "A secret's rotation is overdue: its last rotation is older than its schedule allows, or its next rotation date has passed."
      metric      = "SecretsOverdue"
      periods     = 1
    }
    pending-stuck = {
      description = "A secret has had an AWSPENDING version that is not AWSCURRENT for longer than its rotation window: a rotation is stuck and blocks the next one."
      metric      = "SecretsPendingStuck"
      periods     = var.pending_stuck_evaluation_periods
    }
  }
}

################################################################################
# KMS key for the logs (unless one is passed in)
################################################################################

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "Logs of the ${var.name} rotation monitor"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
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
    ]
  })
  tags = var.tags
}

################################################################################
# IAM role: list and describe secrets, write logs and traces
################################################################################

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Execution role of the ${var.name} secret rotation monitor"
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
  name   = "secret-rotation-monitor"
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
  #checkov:skip=CKV_AWS_116:Scheduled runs need no dead-letter queue: a failed run raises the Errors alarm and the next run repeats it.
  #checkov:skip=CKV_AWS_272:The zip comes from the repository's own build; code signing can be layered on by the caller.
  #checkov:skip=CKV_AWS_173:The environment holds filters and names only, no credentials, so the AWS-managed key is enough.
  function_name                  = var.name
  description                    = "Rotation health of Secrets Manager secrets as CloudWatch metrics"
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = 1

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = local.environment
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# A failed run is not retried: the next scheduled run repeats it, and a retry
# would only duplicate the metrics.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600
}

################################################################################
# Schedule
################################################################################

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${var.name}-schedule"
  description         = "Runs the ${var.name} rotation health check"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule      = aws_cloudwatch_event_rule.schedule.name
  target_id = "rotation-monitor"
  arn       = aws_lambda_function.this.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id   = "RunOnSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.schedule.arn
  source_account = local.account_id
}

################################################################################
# Alarms: overdue rotation, stuck AWSPENDING, a monitor that fails or is silent
################################################################################

resource "aws_cloudwatch_metric_alarm" "health" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = var.metrics_namespace
  metric_name         = each.value.metric
  dimensions          = { Monitor = var.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  # A run that did not report is the "silent" alarm's business.
  treat_missing_data = "notBreaching"
  alarm_actions      = [var.alarm_topic_arn]
  ok_actions         = [var.alarm_topic_arn]
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "silent" {
  alarm_name          = "${var.name}-silent"
  alarm_description   = "The ${var.name} rotation monitor has not reported for two runs: overdue and stuck rotations would go unnoticed."
  namespace           = var.metrics_namespace
  metric_name         = "SecretsChecked"
  dimensions          = { Monitor = var.name }
  statistic           = "SampleCount"
  period              = var.alarm_period_seconds
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "The ${var.name} rotation monitor failed: secrets could not be listed or described."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
