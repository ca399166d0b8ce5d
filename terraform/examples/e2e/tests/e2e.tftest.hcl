# Plans the e2e example with a mocked AWS provider (no credentials, no
# network, no emulator) and checks how functions, user and secrets are wired
# together. Applying it to the emulator is the Rust e2e test's part.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/testing"
      user_id    = "AIDAEXAMPLE"
    }
  }

  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:example-AbCdEf" }
  }

  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:example" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000001" }
  }

  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:e2e-alarms" }
  }

  mock_resource "aws_elasticache_user" {
    defaults = { arn = "arn:aws:elasticache:us-east-1:123456789012:user:e2e-redis-app" }
  }

  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "GeneratedPlaceholder0123456789ab" }
  }
}

# Distinct ARNs, so each secret can be checked against its own function.
override_resource {
  target          = module.function["postgres"].module.lambda.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:e2e-postgres" }
}

override_resource {
  target          = module.function["redis"].module.lambda.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:e2e-redis" }
}

override_resource {
  target          = module.function["jwt"].module.lambda.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:us-east-1:123456789012:function:e2e-jwt" }
}

override_resource {
  target          = module.monitor.module.lambda.aws_iam_role.this
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/e2e-monitor" }
}

override_resource {
  target          = module.secret["postgres"].aws_secretsmanager_secret.this
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e/postgres-app-AbCdEf" }
}

override_resource {
  target          = module.secret["redis"].aws_secretsmanager_secret.this
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e/redis-app-AbCdEf" }
}

override_resource {
  target          = module.secret["jwt"].aws_secretsmanager_secret.this
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e/jwt-signing-key-AbCdEf" }
}

variables {
  endpoint           = "http://127.0.0.1:5000"
  lambda_package_dir = "tests/fixtures"
  postgres = {
    host     = "127.0.0.1"
    port     = 55432
    username = "app_user"
    password = "placeholder-postgres"
    dbname   = "app"
    ssl      = false
  }
  redis = {
    host      = "localhost"
    port      = 6380
    ca_bundle = "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"
  }
}

run "e2e" {
  command = plan

  assert {
    condition = output.function_names == {
      postgres = "e2e-postgres", redis = "e2e-redis", jwt = "e2e-jwt", monitor = "e2e-monitor"
    }
    error_message = "The functions must be named <name_prefix>-<kind>, the monitor included."
  }

  assert {
    condition     = { for k, v in output.role_names : k => v if k != "operator" } == output.function_names
    error_message = "Each function's role must be named like the function (the monitor's taken from its role ARN)."
  }

  assert {
    condition     = output.role_names["operator"] == "e2e-operator" && length(aws_iam_role_policy.operator) == 3
    error_message = "The operators' role holds one operator policy per rotation function."
  }

  assert {
    condition = {
      for k, s in module.secret : k => [s.secret_name, s.rotation_lambda_permission.function_name, s.rotation_lambda_permission.source_arn, s.kms_key_arn]
      } == {
      for k, f in module.function : k => [local.secret_names[k], f.function_arn, output.secret_arns[k], aws_kms_key.this.arn]
    }
    error_message = "Each secret must be named <name_prefix>/..., rotated by the function of its kind (invoke permission for that secret only) and encrypted with the example's key."
  }

  assert {
    condition     = alltrue([for s in module.secret : s.rotation_rules[0].automatically_after_days == 30 && s.rotation_lambda_permission.principal == "secretsmanager.amazonaws.com" && s.rotation_lambda_permission.source_account == "123456789012"])
    error_message = "Every secret must rotate every 30 days, invoked by Secrets Manager of this account."
  }

  # Outside a VPC: no subnets and no ENI permissions.
  assert {
    condition = alltrue(flatten([
      for f in module.function : concat([length(f.vpc_subnet_ids) == 0], [
        for s in jsondecode(f.role_policy_json).Statement : !contains(flatten([s.Action]), "ec2:CreateNetworkInterface")
      ])
    ]))
    error_message = "The functions must run outside a VPC."
  }

  # The Redis function may change exactly the example's ElastiCache user: one
  # statement, its two actions, that user's ARN; no other function gets any
  # ElastiCache or MemoryDB action.
  assert {
    condition = {
      for k, f in module.function : k => [
        for s in jsondecode(f.role_policy_json).Statement : [toset(s.Action), s.Resource]
        if anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
      ]
      } == {
      postgres = []
      redis    = [[toset(["elasticache:ModifyUser", "elasticache:DescribeUsers"]), [aws_elasticache_user.app.arn]]]
      jwt      = []
    }
    error_message = "Only the Redis function may call ElastiCache: ModifyUser and DescribeUsers on the example's user, nothing else of ElastiCache or MemoryDB."
  }

  # What becomes the Redis function's ROTATION_MANAGED_* environment (the
  # module's own tests check that it does): the user, the test's host, a
  # 60 s wait, and a timeout covering it (module check: wait + 30 s).
  assert {
    condition = (
      local.managed_redis == { arns = [aws_elasticache_user.app.arn], endpoints = ["localhost"], wait_seconds = 60 }
      && local.timeouts.redis >= local.managed_redis.wait_seconds + 30
    )
    error_message = "The Redis function must get the user's ARN, the redis host and a 60 s wait, with a timeout of at least 90 s."
  }

  assert {
    condition = (
      aws_elasticache_user.app.user_id == "e2e-redis-app" && aws_elasticache_user.app.user_name == "redis_app"
      && aws_elasticache_user.app.engine == "valkey" && aws_elasticache_user.app.authentication_mode[0].type == "password"
      && length(aws_elasticache_user.app.authentication_mode[0].passwords) == 1
    )
    error_message = "The ElastiCache user must be a Valkey user with one (generated) password."
  }

  # AWS's ElastiCache rotation format: the user, its login, the test's TLS
  # server and its CA; no engine.
  assert {
    condition = (
      toset(keys(nonsensitive(jsondecode(local.secret_values["redis"])))) == toset(["user_arn", "username", "password", "host", "port", "ca_bundle"])
      && nonsensitive(jsondecode(local.secret_values["redis"]).user_arn) == aws_elasticache_user.app.arn
      && nonsensitive(jsondecode(local.secret_values["redis"]).username) == "redis_app"
      && nonsensitive(jsondecode(local.secret_values["redis"]).password) == "GeneratedPlaceholder0123456789ab"
      && nonsensitive(jsondecode(local.secret_values["redis"]).host) == "localhost"
      && nonsensitive(jsondecode(local.secret_values["redis"]).port) == 6380
      && nonsensitive(jsondecode(local.secret_values["redis"]).ca_bundle) == var.redis.ca_bundle
    )
    error_message = "The Redis secret must be AWS's ElastiCache format (user_arn, username, password, host, port, ca_bundle), without engine."
  }

  # AWS's PostgreSQL format without masterarn: single-user rotation.
  assert {
    condition = nonsensitive(jsondecode(local.secret_values["postgres"])) == {
      engine = "postgres", host = "127.0.0.1", port = 55432, username = "app_user", password = "placeholder-postgres", dbname = "app", ssl = false
    }
    error_message = "The PostgreSQL secret must hold engine, host, port, username, password, dbname and ssl, and no masterarn."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.function["postgres"].role_policy_json).Statement : s.Sid == "ReadPrivilegedSecrets"
    ])
    error_message = "Without masterarn the PostgreSQL function reads no admin secret."
  }

  assert {
    condition     = local.secret_values["jwt"] == "{\"engine\":\"jwt\"}"
    error_message = "The JWT secret must start as {\"engine\":\"jwt\"}: the first rotation creates the keys."
  }

  assert {
    condition     = alltrue([for f in module.function : f.alarm_topic_arn == aws_sns_topic.alarms.arn && f.kms_key_arn == aws_kms_key.this.arn])
    error_message = "All functions must report to the one alarm topic and encrypt their logs with the example's key."
  }

  assert {
    condition     = { for k, f in module.function : k => length(f.rotation_event_rule_arns) } == { postgres = 2, redis = 0, jwt = 0 }
    error_message = "The account-wide rotation event rules must be created once."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.monitor.role_policy_json).Statement :
      s.Action == ["secretsmanager:DescribeSecret"] && s.Resource == "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e/*"
    ])
    error_message = "The monitor must watch the example's secrets, <name_prefix>/..."
  }

  assert {
    condition     = alltrue([for k, actions in module.monitor.alarm_actions : actions == toset([aws_sns_topic.alarms.arn])])
    error_message = "The monitor's alarms must notify the example's topic."
  }
}

# ssl left out: the secret carries none, so the function's default (TLS,
# verify-full) applies.
run "postgres_tls_by_default" {
  command = plan

  variables {
    name_prefix = "e2e-run-1"
    postgres = {
      host     = "db.example.test"
      username = "app_user"
      password = "placeholder-postgres"
      dbname   = "app"
    }
  }

  assert {
    condition     = !can(nonsensitive(jsondecode(local.secret_values["postgres"])).ssl) && nonsensitive(jsondecode(local.secret_values["postgres"]).port) == 5432
    error_message = "Without ssl the secret must carry none (TLS by default), and the port defaults to 5432."
  }

  assert {
    condition     = output.function_names.monitor == "e2e-run-1-monitor" && module.secret["redis"].secret_name == "e2e-run-1/redis-app" && aws_elasticache_user.app.user_id == "e2e-run-1-redis-app"
    error_message = "Every name must follow name_prefix."
  }
}

run "refuses_bad_name_prefix" {
  command = plan

  variables {
    name_prefix = "E2E--"
  }

  expect_failures = [var.name_prefix]
}

run "refuses_endpoint_with_path" {
  command = plan

  variables {
    endpoint = "127.0.0.1:5000/moto"
  }

  expect_failures = [var.endpoint]
}

run "refuses_redis_host_with_port" {
  command = plan

  variables {
    redis = {
      host      = "localhost:6380"
      port      = 6380
      ca_bundle = "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"
    }
  }

  expect_failures = [var.redis]
}
