# Plans the whole example with a mocked AWS provider (no credentials, no
# network) and checks how functions and secrets are wired together.

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

  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:example-AbCdEf" }
  }

  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:example" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000001" }
  }

  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:secret-rotation-alarms" }
  }

}

override_resource {
  target          = aws_subnet.private[0]
  override_during = plan
  values          = { id = "subnet-00000000000000000" }
}

override_resource {
  target          = aws_subnet.private[1]
  override_during = plan
  values          = { id = "subnet-11111111111111111" }
}

variables {
  lambda_package_dir = "tests/fixtures"
  postgres_password  = "placeholder-postgres"
  redis_password     = "placeholder-redis"
  postgres = {
    host              = "orders.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com"
    username          = "orders_app"
    dbname            = "orders"
    master_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-master-AbCdEf"
  }
}

run "complete" {
  command = plan

  assert {
    condition     = alltrue([for s in module.secret : length(s.rotation_rules) == 1])
    error_message = "Every rotated secret must have rotation rules."
  }

  assert {
    condition     = { for k, s in module.secret : k => s.rotation_rules[0].automatically_after_days } == { postgres = 90, redis = 90, jwt = 180 }
    error_message = "PostgreSQL and Redis must rotate every 90 days, JWT every 180."
  }

  assert {
    condition     = alltrue([for s in module.secret : s.rotation_rules[0].schedule_expression == null])
    error_message = "Days and schedule must never both be set."
  }

  assert {
    condition = alltrue([
      for k, s in module.secret :
      s.rotation_lambda_permission.principal == "secretsmanager.amazonaws.com" && s.rotation_lambda_permission.source_account == "123456789012" && s.rotation_lambda_permission.source_arn == s.secret_arn
    ])
    error_message = "Every invoke permission must carry source_account and source_arn = its secret."
  }

  assert {
    condition = alltrue(flatten([
      for k, f in module.function : [
        for s in jsondecode(f.role_policy_json).Statement :
        !anytrue([for a in flatten([s.Action]) : can(regex("^(\\*|secretsmanager:(\\*|Put|Update|Untag|Tag|Create|Delete|Rotate|Cancel|Restore|Replicate|Remove|Stop))", a))])
        || try(s.Condition.StringEquals["secretsmanager:resource/AllowRotationLambdaArn"], "") == "arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-${k}"
        || alltrue([for r in flatten([s.Resource]) : !strcontains(r, "*")])
      ]
    ]))
    error_message = "A function may write only secrets it is the rotation function of."
  }

  assert {
    condition = {
      for k, f in module.function : k => anytrue([
        for s in jsondecode(f.role_policy_json).Statement : contains(flatten([s.Action]), "ec2:CreateNetworkInterface")
      ])
    } == { postgres = true, redis = true, jwt = false }
    error_message = "ENI permissions exactly for the functions in the VPC (postgres, redis)."
  }

  assert {
    condition     = { for k, f in module.function : k => length(f.vpc_subnet_ids) } == { postgres = 2, redis = 2, jwt = 0 }
    error_message = "PostgreSQL and Redis functions must run in both private subnets, JWT outside the VPC."
  }

  assert {
    condition = {
      for k, f in module.function : k => anytrue([
        for s in jsondecode(f.role_policy_json).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "rds:")])
      ])
    } == { postgres = true, redis = false, jwt = false }
    error_message = "Only the PostgreSQL function may call RDS."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.function["postgres"].role_policy_json).Statement :
      s.Sid == "ReadPrivilegedSecrets" && s.Resource == [var.postgres.master_secret_arn]
      && toset(s.Action) == toset(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"])
    ])
    error_message = "The PostgreSQL function must be able to read its masterarn secret, and describe it for its RDS tags."
  }

  assert {
    condition = !anytrue(flatten([
      for f in module.function : [
        for s in jsondecode(f.role_policy_json).Statement :
        anytrue([for a in flatten([s.Action]) : contains(["secretsmanager:GetRandomPassword", "kms:Encrypt"], a)])
      ]
    ]))
    error_message = "No function may be granted an action it never calls."
  }

  assert {
    condition     = aws_vpc_endpoint.this["secretsmanager"].private_dns_enabled && aws_vpc_endpoint.this["secretsmanager"].vpc_endpoint_type == "Interface" && aws_vpc_endpoint.this["secretsmanager"].service_name == "com.amazonaws.eu-west-1.secretsmanager"
    error_message = "A Secrets Manager interface endpoint with private DNS is required."
  }

  assert {
    condition     = { for k, f in module.function : k => length(f.rotation_event_rule_arns) } == { postgres = 2, redis = 0, jwt = 0 }
    error_message = "The account-wide rotation event rules must be created once."
  }

  assert {
    condition     = alltrue([for f in module.function : f.alarm_topic_arn == aws_sns_topic.alarms.arn])
    error_message = "All functions must report to the one alarm topic."
  }

  assert {
    condition     = module.monitor.schedule_expression == "rate(1 hour)"
    error_message = "The rotation health monitor must run on an hourly schedule."
  }

  assert {
    condition     = alltrue([for k, actions in module.monitor.alarm_actions : actions == toset([aws_sns_topic.alarms.arn])]) && toset(keys(module.monitor.alarm_actions)) == toset(["overdue", "pending-stuck", "silent", "errors"])
    error_message = "The overdue and stuck-pending alarms must notify the topic of the rotation-failure alarms."
  }

  assert {
    condition = toset(flatten([for s in jsondecode(module.monitor.role_policy_json).Statement : s.Action])) == toset([
      "secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
      "logs:CreateLogStream", "logs:PutLogEvents",
      "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    ])
    error_message = "The monitor may only list and describe secrets (never read a value), write logs and send traces."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.monitor.role_policy_json).Statement :
      s.Action == ["secretsmanager:DescribeSecret"] && s.Resource == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:secret-rotation/*"
    ])
    error_message = "The monitor may describe only the example's secrets."
  }
}
