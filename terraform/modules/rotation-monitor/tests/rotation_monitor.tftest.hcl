# Plan-only tests with a mocked AWS provider: no credentials, no network.
# Needs Terraform >= 1.11 (override_during).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/terraform"
      user_id    = "AIDAEXAMPLE"
    }
  }

  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000001" }
  }

  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/secret-rotation-monitor" }
  }

  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-monitor" }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/secret-rotation-monitor-schedule" }
  }
}

variables {
  package_path    = "tests/fixtures/bootstrap.zip"
  alarm_topic_arn = "arn:aws:sns:eu-west-1:123456789012:rotation-alarms"
}

run "hourly_metadata_only_monitor" {
  command = plan

  assert {
    condition     = aws_cloudwatch_event_rule.schedule.schedule_expression == "rate(1 hour)"
    error_message = "The monitor must run on an hourly schedule by default."
  }

  assert {
    condition     = aws_cloudwatch_event_target.schedule.rule == aws_cloudwatch_event_rule.schedule.name && aws_cloudwatch_event_target.schedule.arn == module.lambda.lambda_function.arn
    error_message = "The schedule must target the monitor function."
  }

  assert {
    condition     = aws_lambda_permission.schedule.principal == "events.amazonaws.com" && aws_lambda_permission.schedule.source_arn == aws_cloudwatch_event_rule.schedule.arn && aws_lambda_permission.schedule.source_account == "123456789012"
    error_message = "Only this schedule rule of this account may invoke the monitor."
  }

  assert {
    condition     = module.lambda.lambda_function.runtime == "provided.al2023" && module.lambda.lambda_function.handler == "bootstrap" && module.lambda.lambda_function.tracing_config[0].mode == "Active"
    error_message = "The monitor must be a provided.al2023 bootstrap with X-Ray tracing."
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.this.maximum_retry_attempts == 0
    error_message = "A failed run must not be retried (the next scheduled run repeats it)."
  }

  # The policy grants exactly these actions, and so never GetSecretValue,
  # BatchGetSecretValue, a wildcard, a write or KMS decryption.
  assert {
    condition = toset(flatten([for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Action])) == toset([
      "secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
      "logs:CreateLogStream", "logs:PutLogEvents",
      "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    ])
    error_message = "The monitor may only list and describe secrets, write its logs and send traces."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      s.Effect == "Allow" && !anytrue([for a in flatten([s.Action]) : strcontains(a, "*") || can(regex("(?i)^(secretsmanager:(Get|BatchGet)|kms:)", a))])
    ])
    error_message = "No statement may read a secret value, decrypt, or use a wildcard action."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      s.Action == ["secretsmanager:DescribeSecret"] && s.Resource == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"
    ])
    error_message = "DescribeSecret must be limited to this account's and region's secrets."
  }

  assert {
    condition     = module.lambda.lambda_function.environment[0].variables["ROTATION_MONITOR_NAME"] == "secret-rotation-monitor" && module.lambda.lambda_function.environment[0].variables["ROTATION_METRICS_NAMESPACE"] == "SecretRotation" && module.lambda.lambda_function.environment[0].variables["ROTATION_MONITOR_INCLUDE_DISABLED"] == "false"
    error_message = "The monitor's name, namespace and scope must reach its environment."
  }

  assert {
    condition = {
      for k, a in aws_cloudwatch_metric_alarm.health : k => [a.namespace, a.metric_name, a.dimensions["Monitor"], a.statistic, a.comparison_operator, a.threshold]
      } == {
      overdue         = ["SecretRotation", "SecretsOverdue", "secret-rotation-monitor", "Maximum", "GreaterThanThreshold", 0]
      "pending-stuck" = ["SecretRotation", "SecretsPendingStuck", "secret-rotation-monitor", "Maximum", "GreaterThanThreshold", 0]
    }
    error_message = "There must be alarms on the overdue and stuck-pending counts of this monitor."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.health["pending-stuck"].evaluation_periods == 2 && aws_cloudwatch_metric_alarm.health["overdue"].evaluation_periods == 1 && alltrue([for a in aws_cloudwatch_metric_alarm.health : a.period == 3600])
    error_message = "Alarm periods must follow the hourly schedule; a stuck AWSPENDING must be seen twice."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.silent.metric_name == "SecretsChecked" && aws_cloudwatch_metric_alarm.silent.treat_missing_data == "breaching" && module.lambda.error_alarm.dimensions["FunctionName"] == "secret-rotation-monitor"
    error_message = "A silent or failing monitor must raise an alarm."
  }

  assert {
    condition     = alltrue([for k, actions in output.alarm_actions : actions == toset(["arn:aws:sns:eu-west-1:123456789012:rotation-alarms"])])
    error_message = "Every alarm must notify the given topic."
  }

  assert {
    condition     = module.lambda.log_group.name == "/aws/lambda/secret-rotation-monitor" && module.lambda.log_group.kms_key_id == module.lambda.kms_key[0].arn
    error_message = "The log group must be /aws/lambda/<name>, encrypted with the module's key."
  }

  assert {
    condition     = length(module.lambda.lambda_function.vpc_config) == 0
    error_message = "Without vpc_config the monitor runs outside a VPC."
  }
}

run "filtered_in_a_vpc_every_15_minutes" {
  command = plan

  variables {
    name                 = "team-monitor"
    schedule_expression  = "rate(15 minutes)"
    alarm_period_seconds = 900
    secret_name_prefix   = "prod/"
    secret_tag           = "team=payments"
    include_disabled     = true
    metrics_namespace    = "Custom/Rotation"
    create_kms_key       = false
    kms_key_arn          = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000002"
    vpc_config = {
      subnet_ids         = ["subnet-aaaa"]
      security_group_ids = ["sg-1111"]
    }
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      s.Action == ["secretsmanager:DescribeSecret"] && s.Resource == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/*"
    ])
    error_message = "With a name prefix, DescribeSecret must be limited to secrets under it."
  }

  assert {
    condition     = module.lambda.lambda_function.environment[0].variables["ROTATION_MONITOR_NAME_PREFIX"] == "prod/" && module.lambda.lambda_function.environment[0].variables["ROTATION_MONITOR_TAG"] == "team=payments" && module.lambda.lambda_function.environment[0].variables["ROTATION_MONITOR_INCLUDE_DISABLED"] == "true"
    error_message = "The filters must reach the function's environment."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.schedule.schedule_expression == "rate(15 minutes)" && alltrue([for a in aws_cloudwatch_metric_alarm.health : a.period == 900 && a.namespace == "Custom/Rotation" && a.dimensions["Monitor"] == "team-monitor"])
    error_message = "Schedule, period, namespace and name must be passed through."
  }

  assert {
    condition     = length(module.lambda.kms_key) == 0 && module.lambda.log_group.kms_key_id == var.kms_key_arn
    error_message = "A passed-in key must be used, not created."
  }

  assert {
    condition = length([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : s
      if contains(flatten([s.Action]), "ec2:CreateNetworkInterface")
    ]) == 1 && !anytrue([for a in flatten([for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Action]) : can(regex("^secretsmanager:(Get|BatchGet)", a))])
    error_message = "In a VPC the ENI statement is added, and still no value is readable."
  }
}

# The resources that moved into module.lambda (migrations.tf) are there, with
# the names and descriptions they had at their old addresses, so that an
# upgrade moves them in the state and updates nothing.
run "moved_resources_keep_their_names" {
  command = plan

  assert {
    condition = (
      module.lambda.lambda_function.function_name == "secret-rotation-monitor"
      && module.lambda.lambda_function.description == "Rotation health of Secrets Manager secrets as CloudWatch metrics"
      && module.lambda.lambda_function.reserved_concurrent_executions == 1 && module.lambda.lambda_function.timeout == 120 && module.lambda.lambda_function.memory_size == 128
    )
    error_message = "module.lambda.aws_lambda_function.this must keep the monitor's name, description, concurrency, timeout and memory."
  }

  assert {
    condition     = module.lambda.role.name == "secret-rotation-monitor" && module.lambda.role.description == "Execution role of the secret-rotation-monitor secret rotation monitor"
    error_message = "module.lambda.aws_iam_role.this must keep the role's name and description."
  }

  assert {
    condition     = module.lambda.role_policy.name == "secret-rotation-monitor" && [for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Sid] == ["ListSecrets", "DescribeSecrets", "WriteOwnLogs", "SendTraces"]
    error_message = "module.lambda.aws_iam_role_policy.this must keep the inline policy's name and its statements in their order."
  }

  assert {
    condition     = module.lambda.log_group.name == "/aws/lambda/secret-rotation-monitor" && module.lambda.log_group.retention_in_days == 365
    error_message = "module.lambda.aws_cloudwatch_log_group.this must keep the log group's name and retention."
  }

  assert {
    condition = (
      length(module.lambda.kms_key) == 1
      && module.lambda.kms_key[0].description == "Logs of the secret-rotation-monitor rotation monitor"
      && [for s in jsondecode(module.lambda.kms_key[0].policy).Statement : s.Sid] == ["EnableIamPolicies", "AllowCloudWatchLogs"]
    )
    error_message = "module.lambda.aws_kms_key.this[0] must keep the key's description and policy."
  }

  assert {
    condition = (
      module.lambda.error_alarm.alarm_name == "secret-rotation-monitor-errors"
      && module.lambda.error_alarm.alarm_description == "The secret-rotation-monitor rotation monitor failed: secrets could not be listed or described."
      && module.lambda.error_alarm.period == 3600
    )
    error_message = "module.lambda.aws_cloudwatch_metric_alarm.errors must keep the alarm's name, description and period."
  }
}

run "refuses_a_malformed_schedule" {
  command = plan

  variables {
    schedule_expression = "every hour"
  }

  expect_failures = [var.schedule_expression]
}

run "refuses_an_alarm_period_off_the_minute" {
  command = plan

  variables {
    alarm_period_seconds = 90
  }

  expect_failures = [var.alarm_period_seconds]
}

run "refuses_a_wildcard_prefix_and_an_empty_tag_key" {
  command = plan

  variables {
    secret_name_prefix = "prod/*"
    secret_tag         = "=payments"
  }

  expect_failures = [var.secret_name_prefix, var.secret_tag]
}

run "refuses_missing_kms_key" {
  command = plan

  variables {
    create_kms_key = false
  }

  expect_failures = [output.log_group_name]
}

run "refuses_missing_package" {
  command = plan

  variables {
    package_path = "tests/fixtures/missing.zip"
  }

  expect_failures = [var.package_path]
}
