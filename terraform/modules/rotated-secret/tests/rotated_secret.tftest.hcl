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

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000001" }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/postgres-app-AbCdEf"
      id  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/postgres-app-AbCdEf"
    }
  }
}

variables {
  name                = "orders/postgres-app"
  rotation_lambda_arn = "arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-postgres"
  secret_string       = "{\"engine\":\"postgres\",\"host\":\"db.internal\",\"port\":5432,\"username\":\"app\",\"password\":\"placeholder\",\"dbname\":\"orders\"}"
  rotation_rules      = { automatically_after_days = 90 }
}

run "rotates_every_90_days" {
  command = plan

  assert {
    condition     = length(aws_secretsmanager_secret_rotation.this.rotation_rules) == 1 && aws_secretsmanager_secret_rotation.this.rotation_rules[0].automatically_after_days == 90
    error_message = "The secret must have rotation rules with automatically_after_days = 90."
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotation_rules[0].schedule_expression == null
    error_message = "Days and schedule must never both be set."
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotation_lambda_arn == var.rotation_lambda_arn && aws_secretsmanager_secret_rotation.this.rotate_immediately == true
    error_message = "Rotation must use the given function and, by default, rotate immediately."
  }

  assert {
    condition     = aws_lambda_permission.this.principal == "secretsmanager.amazonaws.com" && aws_lambda_permission.this.action == "lambda:InvokeFunction" && aws_lambda_permission.this.function_name == var.rotation_lambda_arn
    error_message = "Secrets Manager must be allowed to invoke the rotation function."
  }

  assert {
    condition     = aws_lambda_permission.this.source_account == "123456789012" && aws_lambda_permission.this.source_arn == aws_secretsmanager_secret.this.arn
    error_message = "The invoke permission must carry source_account and source_arn = the secret ARN."
  }

  assert {
    condition     = startswith(aws_lambda_permission.this.source_arn, "arn:aws:secretsmanager:")
    error_message = "source_arn must be a Secrets Manager secret ARN."
  }

  assert {
    condition     = aws_secretsmanager_secret.this.kms_key_id == aws_kms_key.this[0].arn && aws_kms_key.this[0].enable_key_rotation
    error_message = "The secret must be encrypted with the module-created, rotating KMS key."
  }

  assert {
    condition     = !contains(keys(coalesce(aws_secretsmanager_secret.this.tags, {})), "rotation:mode")
    error_message = "The rotation:mode tag must not be set by default."
  }

  assert {
    condition     = nonsensitive(jsondecode(aws_secretsmanager_secret_version.this.secret_string).engine) == "postgres"
    error_message = "The initial value must be stored."
  }
}

run "rotates_on_schedule_with_window" {
  command = plan

  variables {
    rotation_rules = { schedule_expression = "cron(0 4 ? * SUN *)", duration = "3h" }
    tags           = { team = "sre" }
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotation_rules[0].schedule_expression == "cron(0 4 ? * SUN *)" && aws_secretsmanager_secret_rotation.this.rotation_rules[0].duration == "3h"
    error_message = "The schedule and window must be passed to the rotation rules."
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotation_rules[0].automatically_after_days == null
    error_message = "Days and schedule must never both be set."
  }

  assert {
    condition     = aws_secretsmanager_secret.this.tags == tomap({ team = "sre" })
    error_message = "Tags must be passed through, without rotation:mode."
  }
}

run "adopts_existing_value_with_shared_key" {
  command = plan

  variables {
    rotate_immediately = false
    create_kms_key     = false
    kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000009"
    rotation_rules     = { automatically_after_days = 180 }
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotate_immediately == false
    error_message = "Adopting an existing value must not rotate immediately."
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_secretsmanager_secret.this.kms_key_id == var.kms_key_arn
    error_message = "A passed-in key must be used and no key created."
  }

  assert {
    condition     = aws_secretsmanager_secret_rotation.this.rotation_rules[0].automatically_after_days == 180
    error_message = "The rotation interval must be passed through."
  }
}

run "refuses_days_and_schedule_together" {
  command = plan

  variables {
    rotation_rules = { automatically_after_days = 90, schedule_expression = "rate(10 days)" }
  }

  expect_failures = [var.rotation_rules]
}

run "refuses_neither_days_nor_schedule" {
  command = plan

  variables {
    rotation_rules = { duration = "2h" }
  }

  expect_failures = [var.rotation_rules]
}

run "refuses_bad_duration" {
  command = plan

  variables {
    rotation_rules = { automatically_after_days = 30, duration = "3 hours" }
  }

  expect_failures = [var.rotation_rules]
}

run "accepts_the_engine_aliases_the_postgres_function_accepts" {
  command = plan

  variables {
    secret_string = "{\"engine\":\"aurora-postgresql\",\"host\":\"db.internal\",\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  assert {
    condition     = nonsensitive(jsondecode(aws_secretsmanager_secret_version.this.secret_string).engine) == "aurora-postgresql"
    error_message = "A secret whose engine is an alias the PostgreSQL function accepts must be accepted."
  }
}

run "refuses_an_engine_no_function_rotates" {
  command = plan

  variables {
    secret_string = "{\"engine\":\"mysql\",\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}

run "refuses_value_without_engine" {
  command = plan

  variables {
    secret_string = "{\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}

# AWS's ElastiCache rotation format, for users and AUTH tokens the redis
# function changes through their control planes: no engine field.
run "accepts_the_aws_elasticache_user_format" {
  command = plan

  variables {
    secret_string = "{\"user_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app\",\"username\":\"sessions_app\",\"password\":\"placeholder-password\",\"host\":\"sessions-abc123.serverless.euw1.cache.amazonaws.com\",\"port\":6379}"
  }

  assert {
    condition     = nonsensitive(jsondecode(aws_secretsmanager_secret_version.this.secret_string).user_arn) == "arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app"
    error_message = "A value in AWS's ElastiCache rotation format must be accepted and stored."
  }
}

run "accepts_a_memorydb_user" {
  command = plan

  variables {
    secret_string = "{\"user_arn\":\"arn:aws:memorydb:eu-west-1:123456789012:user/orders-app\",\"username\":\"orders-app\",\"password\":\"placeholder-password\",\"engine\":\"redis\"}"
  }

  assert {
    condition     = nonsensitive(jsondecode(aws_secretsmanager_secret_version.this.secret_string).user_arn) == "arn:aws:memorydb:eu-west-1:123456789012:user/orders-app"
    error_message = "A MemoryDB user's value (with or without engine redis) must be accepted."
  }
}

run "accepts_an_auth_token" {
  command = plan

  variables {
    secret_string = "{\"replication_group_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache\",\"password\":\"placeholder-token-0123\",\"host\":\"master.legacy-cache.abc123.euw1.cache.amazonaws.com\",\"port\":6379}"
  }

  assert {
    condition     = nonsensitive(jsondecode(aws_secretsmanager_secret_version.this.secret_string).replication_group_arn) == "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache"
    error_message = "An AUTH token's value must be accepted."
  }
}

run "refuses_a_cluster_arn_as_user_arn" {
  command = plan

  variables {
    secret_string = "{\"user_arn\":\"arn:aws:elasticache:us-east-1:123456789012:cluster:x\",\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}

run "refuses_a_managed_user_without_username" {
  command = plan

  variables {
    secret_string = "{\"user_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}

run "refuses_both_a_user_and_a_replication_group" {
  command = plan

  variables {
    secret_string = "{\"user_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app\",\"replication_group_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache\",\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}

run "refuses_a_managed_user_for_another_engine" {
  command = plan

  variables {
    secret_string = "{\"engine\":\"postgres\",\"user_arn\":\"arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app\",\"username\":\"app\",\"password\":\"placeholder\"}"
  }

  expect_failures = [var.secret_string]
}
