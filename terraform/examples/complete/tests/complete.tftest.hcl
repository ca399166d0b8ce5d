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

  mock_resource "aws_elasticache_user" {
    defaults = { arn = "arn:aws:elasticache:eu-west-1:123456789012:user:secret-rotation-default-off" }
  }

  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "GeneratedPlaceholder0123456789ab" }
  }
}

override_resource {
  target          = aws_security_group.functions
  override_during = plan
  values          = { id = "sg-00000000000000000" }
}

override_resource {
  target          = aws_security_group.redis
  override_during = plan
  values          = { id = "sg-11111111111111111" }
}

override_resource {
  target          = aws_elasticache_user.app
  override_during = plan
  values          = { arn = "arn:aws:elasticache:eu-west-1:123456789012:user:secret-rotation-sessions-app" }
}

override_resource {
  target          = aws_elasticache_serverless_cache.redis
  override_during = plan
  values = {
    endpoint = [{ address = "secret-rotation-sessions-abc123.serverless.euw1.cache.amazonaws.com", port = 6379 }]
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

  # The Redis function may change exactly the example's ElastiCache user: one
  # statement, its two actions, that user's ARN; nothing for MemoryDB or AUTH
  # tokens, and no ElastiCache or MemoryDB action for the other functions.
  assert {
    condition = [
      for s in jsondecode(module.function["redis"].role_policy_json).Statement : [toset(s.Action), s.Resource]
      if anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
    ] == [[toset(["elasticache:ModifyUser", "elasticache:DescribeUsers"]), [aws_elasticache_user.app.arn]]]
    error_message = "The Redis function must be allowed ModifyUser and DescribeUsers on the example's ElastiCache user, and nothing else of ElastiCache or MemoryDB."
  }

  assert {
    condition = {
      for k, f in module.function : k => anytrue([
        for s in jsondecode(f.role_policy_json).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
      ])
    } == { postgres = false, redis = true, jwt = false }
    error_message = "Only the Redis function may call ElastiCache."
  }

  # AWS's ElastiCache rotation format, pointing at the user and the serverless
  # endpoint the function may log in to; no engine field.
  assert {
    condition = (
      nonsensitive(jsondecode(local.secret_values["redis"]).user_arn) == aws_elasticache_user.app.arn
      && nonsensitive(jsondecode(local.secret_values["redis"]).username) == "sessions_app"
      && nonsensitive(jsondecode(local.secret_values["redis"]).host) == "secret-rotation-sessions-abc123.serverless.euw1.cache.amazonaws.com"
      && nonsensitive(jsondecode(local.secret_values["redis"]).port) == 6379
      && !can(jsondecode(local.secret_values["redis"]).engine)
      && startswith(nonsensitive(jsondecode(local.secret_values["redis"]).ca_bundle), "-----BEGIN CERTIFICATE-----")
    )
    error_message = "The Redis secret must hold user_arn, username, host and port of the ElastiCache user and serverless cache (AWS's format, no engine), and the CA bundle to verify the cache's certificate."
  }

  assert {
    condition     = nonsensitive(jsondecode(local.secret_values["redis"]).password) == "GeneratedPlaceholder0123456789ab" && length(aws_elasticache_user.app.authentication_mode[0].passwords) == 1
    error_message = "The Redis secret must start with the application user's generated password."
  }

  assert {
    condition = (
      aws_elasticache_serverless_cache.redis.engine == "valkey"
      && aws_elasticache_serverless_cache.redis.user_group_id == aws_elasticache_user_group.redis.user_group_id
      && aws_elasticache_serverless_cache.redis.subnet_ids == toset(["subnet-00000000000000000", "subnet-11111111111111111"])
      && aws_elasticache_serverless_cache.redis.security_group_ids == toset(["sg-11111111111111111"])
      && aws_elasticache_serverless_cache.redis.kms_key_id == aws_kms_key.redis.arn
    )
    error_message = "The serverless Valkey cache must use the user group, the private subnets, its security group and its key."
  }

  assert {
    condition = (
      aws_elasticache_user_group.redis.engine == "valkey"
      && aws_elasticache_user_group.redis.user_ids == toset([aws_elasticache_user.default.user_id, aws_elasticache_user.app.user_id])
      && aws_elasticache_user.default.user_name == "default" && aws_elasticache_user.default.access_string == "off -@all"
      && aws_elasticache_user.default.user_id != "default"
    )
    error_message = "The user group must hold a disabled user named default (with its own user_id) and the application user."
  }

  assert {
    condition = alltrue([
      for u in [aws_elasticache_user.default, aws_elasticache_user.app] :
      u.engine == "valkey" && u.authentication_mode[0].type == "password"
    ])
    error_message = "A Valkey user group holds only users with password (or IAM) authentication."
  }

  assert {
    condition     = [for r in aws_security_group.redis.ingress : [r.from_port, r.to_port, r.protocol, r.security_groups]] == [[6379, 6379, "tcp", toset(["sg-00000000000000000"])]]
    error_message = "The cache must accept only the rotation functions, on 6379."
  }

  assert {
    condition     = aws_vpc_endpoint.this["elasticache"].private_dns_enabled && aws_vpc_endpoint.this["elasticache"].service_name == "com.amazonaws.eu-west-1.elasticache"
    error_message = "The Redis function reaches the ElastiCache API through an interface endpoint with private DNS."
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
