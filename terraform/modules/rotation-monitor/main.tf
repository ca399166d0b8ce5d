data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  arn_prefix = "arn:${data.aws_partition.current.partition}"

  # DescribeSecret on the secrets the monitor may check: all of this account
  # and region, or only those under secret_name_prefix.
  described_secrets = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secret_name_prefix == null ? "" : var.secret_name_prefix}*"

  # Metadata only: no GetSecretValue, no KMS. The monitor reads no secret value.
  # module.lambda appends WriteOwnLogs, SendTraces and, with vpc_config,
  # ManageVpcNetworkInterfaces.
  policy_statements = [
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
  ]

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
# Function, role, logs, their key and the Errors alarm (shared with the
# rotation-function module); see migrations.tf for the addresses they had
################################################################################

module "lambda" {
  source = "../lambda-function"

  name                           = var.name
  description                    = "Rotation health of Secrets Manager secrets as CloudWatch metrics"
  package_path                   = var.package_path
  architecture                   = var.architecture
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = 1
  environment_variables          = local.environment
  vpc_config                     = var.vpc_config

  role_description          = "Execution role of the ${var.name} secret rotation monitor"
  role_permissions_boundary = var.role_permissions_boundary
  policy_name               = "secret-rotation-monitor"
  policy_statements         = local.policy_statements

  log_retention_in_days = var.log_retention_in_days
  create_kms_key        = var.create_kms_key
  kms_key_arn           = var.kms_key_arn
  kms_key_description   = "Logs of the ${var.name} rotation monitor"

  alarm_topic_arn         = var.alarm_topic_arn
  error_alarm_description = "The ${var.name} rotation monitor failed: secrets could not be listed or described."
  alarm_period_seconds    = var.alarm_period_seconds

  tags = var.tags
}

# A failed run is not retried: the next scheduled run repeats it, and a retry
# would only duplicate the metrics.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = module.lambda.lambda_function.function_name
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
  arn       = module.lambda.lambda_function.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id   = "RunOnSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = module.lambda.lambda_function.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.schedule.arn
  source_account = local.account_id
}

################################################################################
# Alarms: overdue rotation, stuck AWSPENDING, a silent monitor (the Errors
# alarm of a failing one is module.lambda's)
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
