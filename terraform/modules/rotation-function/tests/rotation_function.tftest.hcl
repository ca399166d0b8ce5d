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

  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:created-alarms" }
  }

  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/rotation" }
  }
}

variables {
  name         = "secret-rotation-postgres"
  engine       = "postgres"
  package_path = "tests/fixtures/bootstrap.zip"
}

run "postgres_in_vpc" {
  command = plan

  variables {
    vpc_config = {
      subnet_ids         = ["subnet-aaaa", "subnet-bbbb"]
      security_group_ids = ["sg-1111"]
    }
    privileged_secret_arns = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-master-AbCdEf"]
    break_glass_users      = ["orders_app", "legacy_*"]
    privileged_users       = ["postgres", "rds_superuser_admin"]
  }

  assert {
    condition     = module.lambda.lambda_function.runtime == "provided.al2023" && module.lambda.lambda_function.handler == "bootstrap"
    error_message = "The function must use the provided.al2023 runtime with the bootstrap handler."
  }

  assert {
    condition     = module.lambda.lambda_function.architectures == tolist(["x86_64"]) && module.lambda.lambda_function.tracing_config[0].mode == "Active"
    error_message = "The function must default to x86_64 with active X-Ray tracing."
  }

  assert {
    condition     = module.lambda.lambda_function.source_code_hash == filebase64sha256("tests/fixtures/bootstrap.zip")
    error_message = "source_code_hash must be the hash of the package zip."
  }

  assert {
    condition     = module.lambda.lambda_function.reserved_concurrent_executions == 5
    error_message = "Reserved concurrency must be set."
  }

  assert {
    condition     = module.lambda.log_group.name == "/aws/lambda/secret-rotation-postgres" && module.lambda.log_group.retention_in_days == 365
    error_message = "The log group must be /aws/lambda/<name> with a retention."
  }

  assert {
    condition     = module.lambda.log_group.kms_key_id == module.lambda.kms_key[0].arn
    error_message = "The log group must be encrypted with the module's KMS key."
  }

  assert {
    condition     = toset(module.lambda.lambda_function.vpc_config[0].subnet_ids) == toset(["subnet-aaaa", "subnet-bbbb"])
    error_message = "The function must be attached to the given subnets."
  }

  assert {
    condition = length([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : s
      if contains(flatten([s.Action]), "ec2:CreateNetworkInterface") && contains(flatten([s.Action]), "ec2:UnassignPrivateIpAddresses")
    ]) == 1
    error_message = "A function in a VPC needs exactly one ENI statement."
  }

  assert {
    condition = length([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : s
      if contains(flatten([s.Action]), "rds:DescribeDBInstances") && contains(flatten([s.Action]), "rds:DescribeDBClusters")
    ]) == 1
    error_message = "The postgres function needs the RDS describe statement."
  }

  # No Secrets Manager write action without the AllowRotationLambdaArn condition
  # (pointing at this very function) or a resource naming specific secrets.
  assert {
    condition = alltrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      !anytrue([for a in flatten([s.Action]) : can(regex("^(\\*|secretsmanager:(\\*|Put|Update|Untag|Tag|Create|Delete|Rotate|Cancel|Restore|Replicate|Remove|Stop))", a))])
      || try(s.Condition.StringEquals["secretsmanager:resource/AllowRotationLambdaArn"], "") == "arn:aws:lambda:eu-west-1:123456789012:function:${var.name}"
      || alltrue([for r in flatten([s.Resource]) : !strcontains(r, "*")])
    ])
    error_message = "A statement grants a Secrets Manager write action without the AllowRotationLambdaArn condition or a specific secret ARN."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      try(s.Condition["ForAllValues:StringLike"]["aws:TagKeys"], []) == ["rotation:mode", "rotation:requested-by", "rotation:reason", "rotation:log:*", "rotation:jwt-verify-until"]
      if contains(flatten([s.Action]), "secretsmanager:UntagResource")
    ])
    error_message = "UntagResource must be limited to the tags the rotation ends: mode, request, log, JWT grace."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      try(s.Condition["ForAllValues:StringLike"]["aws:TagKeys"], []) == ["rotation:log:*", "rotation:jwt-verify-until"]
      if contains(flatten([s.Action]), "secretsmanager:TagResource")
    ])
    error_message = "TagResource must be limited to the rotation log and the JWT grace tag."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      can(s.Condition.StringLike["kms:EncryptionContext:SecretARN"])
      if anytrue([for a in flatten([s.Action]) : startswith(a, "kms:")])
    ])
    error_message = "KMS use must be limited by kms:EncryptionContext:SecretARN."
  }

  # DescribeSecret: an RDS-managed admin secret names its database only in its tags.
  assert {
    condition = anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      toset(flatten([s.Action])) == toset(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]) && try(flatten([s.Resource]), []) == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-master-AbCdEf"]
    ])
    error_message = "The privileged secrets must be describable and readable, and only by their ARNs."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      contains(try(flatten([s.Resource]), []), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-master-AbCdEf") && anytrue([for a in flatten([s.Action]) : !contains(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], a)])
    ])
    error_message = "The privileged secrets must never be writable."
  }

  # Every action is one the functions (or Lambda on their behalf) use: nothing else.
  assert {
    condition = toset(flatten([for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Action])) == toset([
      "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage", "secretsmanager:TagResource", "secretsmanager:UntagResource",
      "kms:Decrypt", "kms:GenerateDataKey",
      "logs:CreateLogStream", "logs:PutLogEvents",
      "xray:PutTraceSegments", "xray:PutTelemetryRecords",
      "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
      "rds:DescribeDBInstances", "rds:DescribeDBClusters",
    ])
    error_message = "The policy must grant exactly the actions the postgres function in a VPC uses."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      anytrue([for a in flatten([s.Action]) : contains(["secretsmanager:GetRandomPassword", "kms:Encrypt"], a)])
    ])
    error_message = "No function calls GetRandomPassword, and Secrets Manager never calls kms:Encrypt for them."
  }

  assert {
    condition = (
      module.lambda.lambda_function.environment[0].variables["ROTATION_BREAK_GLASS_USERS"] == "orders_app,legacy_*"
      && module.lambda.lambda_function.environment[0].variables["ROTATION_PRIVILEGED_USERS"] == "postgres,rds_superuser_admin"
    )
    error_message = "break_glass_users and privileged_users must reach the function comma-joined."
  }

  assert {
    condition     = module.lambda.error_alarm.metric_name == "Errors" && module.lambda.error_alarm.namespace == "AWS/Lambda" && module.lambda.error_alarm.dimensions["FunctionName"] == "secret-rotation-postgres"
    error_message = "The error alarm must watch the function's Errors metric."
  }

  assert {
    condition     = module.lambda.error_alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:created-alarms"])
    error_message = "The error alarm must notify the module-created topic."
  }

  assert {
    condition = toset([for r in aws_cloudwatch_event_rule.rotation : jsondecode(r.event_pattern).detail.eventName[0]]) == toset(["RotationFailed", "RotationAbandoned"]) && alltrue([
      for r in aws_cloudwatch_event_rule.rotation :
      jsondecode(r.event_pattern).source == ["aws.secretsmanager"] && jsondecode(r.event_pattern)["detail-type"] == ["AWS Service Event via CloudTrail"]
    ])
    error_message = "There must be rules for RotationFailed and RotationAbandoned Secrets Manager service events."
  }

  assert {
    condition     = alltrue([for t in aws_cloudwatch_event_target.rotation : t.arn == "arn:aws:sns:eu-west-1:123456789012:created-alarms"])
    error_message = "The rotation event rules must target the alarm topic."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_sns_topic_policy.this[0].policy).Statement : s.Principal.Service if s.Action == "sns:Publish"
    ])) == toset(["events.amazonaws.com", "cloudwatch.amazonaws.com"])
    error_message = "The topic policy must let EventBridge and CloudWatch publish."
  }
}

run "redis_outside_vpc" {
  command = plan

  variables {
    name   = "secret-rotation-redis"
    engine = "redis"
  }

  assert {
    condition     = length(module.lambda.lambda_function.vpc_config) == 0
    error_message = "Without vpc_config the function must not be attached to a VPC."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "ec2:")])
    ])
    error_message = "No ENI statement is allowed outside a VPC."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "rds:")])
    ])
    error_message = "Only the postgres function may call RDS."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      contains(flatten([s.Action]), "secretsmanager:PutSecretValue") && try(s.Condition.StringEquals["secretsmanager:resource/AllowRotationLambdaArn"], "") == "arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-redis"
    ])
    error_message = "The rotation statement must be conditioned on this function's ARN."
  }

  assert {
    condition     = !anytrue([for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Sid == "ReadPrivilegedSecrets"])
    error_message = "No privileged secret statement without privileged secrets."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      anytrue([for a in flatten([s.Action]) : contains(["secretsmanager:GetRandomPassword", "kms:Encrypt"], a)])
    ])
    error_message = "No function calls GetRandomPassword, and Secrets Manager never calls kms:Encrypt for them."
  }

  assert {
    condition     = length(module.lambda.lambda_function.environment) == 0
    error_message = "Without environment variables and user lists the function must have no environment."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement :
      anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
    ])
    error_message = "Without managed_redis_arns the function must get no ElastiCache or MemoryDB statement."
  }
}

# Managed Redis: one statement per kind, with exactly that kind's two actions,
# on exactly that kind's ARNs; the lists reach the function comma-joined.
run "redis_with_managed_users_and_auth_tokens" {
  command = plan

  variables {
    name    = "secret-rotation-redis"
    engine  = "redis"
    timeout = 360
    managed_redis_arns = [
      "arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app",
      "arn:aws:memorydb:eu-west-1:123456789012:user/orders-app",
      "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache",
      "arn:aws:elasticache:eu-central-1:123456789012:user:reports-app",
    ]
    managed_redis_endpoints    = ["sessions-abc123.serverless.euw1.cache.amazonaws.com", "clustercfg.orders.abc123.memorydb.eu-west-1.amazonaws.com:6379", "10.0.3.17:6380"]
    managed_redis_wait_seconds = 300
  }

  assert {
    condition = [
      for s in jsondecode(module.lambda.role_policy.policy).Statement : [s.Sid, toset(s.Action), s.Resource]
      if anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
      ] == [
      ["RotateManagedElastiCacheUsers", toset(["elasticache:ModifyUser", "elasticache:DescribeUsers"]), ["arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app", "arn:aws:elasticache:eu-central-1:123456789012:user:reports-app"]],
      ["RotateManagedMemoryDbUsers", toset(["memorydb:UpdateUser", "memorydb:DescribeUsers"]), ["arn:aws:memorydb:eu-west-1:123456789012:user/orders-app"]],
      ["RotateManagedReplicationGroupAuthTokens", toset(["elasticache:ModifyReplicationGroup", "elasticache:DescribeReplicationGroups"]), ["arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache"]],
    ]
    error_message = "Each managed kind must get one statement with exactly its two actions on exactly its ARNs."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : [
        for r in flatten([s.Resource]) : !strcontains(r, "*") && !can(s.Condition)
      ]
      if anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
    ]))
    error_message = "The managed statements must name their resources, never a wildcard."
  }

  assert {
    condition = (
      module.lambda.lambda_function.environment[0].variables["ROTATION_MANAGED_REDIS_ARNS"] == "arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app,arn:aws:memorydb:eu-west-1:123456789012:user/orders-app,arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:legacy-cache,arn:aws:elasticache:eu-central-1:123456789012:user:reports-app"
      && module.lambda.lambda_function.environment[0].variables["ROTATION_MANAGED_REDIS_ENDPOINTS"] == "sessions-abc123.serverless.euw1.cache.amazonaws.com,clustercfg.orders.abc123.memorydb.eu-west-1.amazonaws.com:6379,10.0.3.17:6380"
      && module.lambda.lambda_function.environment[0].variables["ROTATION_MANAGED_WAIT_SECONDS"] == "300"
    )
    error_message = "managed_redis_arns and managed_redis_endpoints must reach the function comma-joined, managed_redis_wait_seconds as a whole number."
  }

  assert {
    condition     = toset(keys(module.lambda.lambda_function.environment[0].variables)) == toset(["ROTATION_MANAGED_REDIS_ARNS", "ROTATION_MANAGED_REDIS_ENDPOINTS", "ROTATION_MANAGED_WAIT_SECONDS"])
    error_message = "The managed inputs must set exactly their three variables."
  }

  assert {
    condition     = module.lambda.lambda_function.timeout == 360
    error_message = "The timeout must be passed through."
  }
}

run "redis_with_one_memorydb_user" {
  command = plan

  variables {
    name               = "secret-rotation-redis"
    engine             = "redis"
    timeout            = 900
    managed_redis_arns = ["arn:aws-us-gov:memorydb:us-gov-west-1:123456789012:user/orders-app"]
  }

  assert {
    condition = [
      for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Sid
      if anytrue([for a in flatten([s.Action]) : startswith(a, "elasticache:") || startswith(a, "memorydb:")])
    ] == ["RotateManagedMemoryDbUsers"]
    error_message = "Only the kinds present may get a statement."
  }

  assert {
    condition     = keys(module.lambda.lambda_function.environment[0].variables) == tolist(["ROTATION_MANAGED_REDIS_ARNS"])
    error_message = "Empty managed_redis_endpoints and a null managed_redis_wait_seconds must not set their variables."
  }
}

run "jwt_with_shared_topic_and_key" {
  command = plan

  variables {
    name                        = "secret-rotation-jwt"
    engine                      = "jwt"
    architecture                = "arm64"
    create_alarm_topic          = false
    alarm_topic_arn             = "arn:aws:sns:eu-west-1:123456789012:shared-alarms"
    create_kms_key              = false
    kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000002"
    create_rotation_event_rules = false
    log_retention_in_days       = 30
    environment_variables       = { RUST_LOG = "info" }
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && length(module.lambda.kms_key) == 0 && length(aws_cloudwatch_event_rule.rotation) == 0
    error_message = "A passed-in topic and key must not be created again, and disabled rules must not exist."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.operator_policy_json).Statement :
      !anytrue([for a in flatten([s.Action]) : contains(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"], a) || startswith(a, "kms:")])
      && (s.Sid == "ListSecrets" || s.Sid == "InvokeForRotation" || try(s.Condition.StringEquals["secretsmanager:resource/AllowRotationLambdaArn"], null) == "arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-jwt")
    ])
    error_message = "The operator policy reads no value, uses no key, and reaches only this function's secrets."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(output.operator_policy_json).Statement :
      try(s.Condition["ForAllValues:StringEquals"]["aws:TagKeys"], []) == ["rotation:mode", "rotation:requested-by", "rotation:reason"]
      if anytrue([for a in flatten([s.Action]) : startswith(a, "secretsmanager:Tag") || startswith(a, "secretsmanager:Untag")])
    ])
    error_message = "Operators tag only the rotation request (mode, who, why), never the rotation log."
  }

  assert {
    condition     = module.lambda.error_alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:shared-alarms"])
    error_message = "The error alarm must notify the passed-in topic."
  }

  assert {
    condition     = module.lambda.log_group.retention_in_days == 30 && module.lambda.log_group.kms_key_id == var.kms_key_arn
    error_message = "The log group must use the given retention and key."
  }

  assert {
    condition     = module.lambda.lambda_function.architectures == tolist(["arm64"]) && module.lambda.lambda_function.environment[0].variables["RUST_LOG"] == "info"
    error_message = "Architecture and environment variables must be passed through."
  }

  assert {
    condition     = keys(module.lambda.lambda_function.environment[0].variables) == tolist(["RUST_LOG"])
    error_message = "Empty break_glass_users and privileged_users must not set ROTATION_BREAK_GLASS_USERS or ROTATION_PRIVILEGED_USERS."
  }

  assert {
    condition = !anytrue([
      for s in jsondecode(module.lambda.role_policy.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "rds:") || startswith(a, "ec2:")])
    ])
    error_message = "The jwt function outside a VPC needs neither RDS nor ENI permissions."
  }
}

# The resources that moved into module.lambda (migrations.tf) are there, with
# the names and descriptions they had at their old addresses, so that an
# upgrade moves them in the state and updates nothing.
run "moved_resources_keep_their_names" {
  command = plan

  assert {
    condition = (
      module.lambda.lambda_function.function_name == "secret-rotation-postgres"
      && module.lambda.lambda_function.description == "Rotates postgres secrets for AWS Secrets Manager"
      && module.lambda.lambda_function.role == "arn:aws:iam::123456789012:role/rotation"
    )
    error_message = "module.lambda.aws_lambda_function.this must keep the function's name, description and role."
  }

  assert {
    condition     = module.lambda.role.name == "secret-rotation-postgres" && module.lambda.role.description == "Execution role of the secret-rotation-postgres secret rotation function"
    error_message = "module.lambda.aws_iam_role.this must keep the role's name and description."
  }

  assert {
    condition     = module.lambda.role_policy.name == "secret-rotation"
    error_message = "module.lambda.aws_iam_role_policy.this must keep the inline policy's name."
  }

  assert {
    condition     = module.lambda.log_group.name == "/aws/lambda/secret-rotation-postgres"
    error_message = "module.lambda.aws_cloudwatch_log_group.this must keep the log group's name."
  }

  assert {
    condition = (
      length(module.lambda.kms_key) == 1
      && module.lambda.kms_key[0].description == "Logs and alarms of the secret-rotation-postgres rotation function"
      && module.lambda.kms_key[0].enable_key_rotation && module.lambda.kms_key[0].deletion_window_in_days == 30
    )
    error_message = "module.lambda.aws_kms_key.this[0] must keep the key's description and settings."
  }

  assert {
    condition = (
      [for s in jsondecode(module.lambda.kms_key[0].policy).Statement : s.Sid] == ["EnableIamPolicies", "AllowCloudWatchLogs", "AllowAlarmPublishers"]
      && anytrue([for s in jsondecode(module.lambda.kms_key[0].policy).Statement : s.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/secret-rotation-postgres" if s.Sid == "AllowCloudWatchLogs"])
    )
    error_message = "The key policy must keep its statements, in order, with logs limited to the function's log group."
  }

  assert {
    condition = (
      module.lambda.error_alarm.alarm_name == "secret-rotation-postgres-errors"
      && module.lambda.error_alarm.alarm_description == "The secret-rotation-postgres secret rotation function reported errors."
      && module.lambda.error_alarm.period == 300 && module.lambda.error_alarm.ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:created-alarms"])
    )
    error_message = "module.lambda.aws_cloudwatch_metric_alarm.errors must keep the alarm's name, description, period and actions."
  }

  assert {
    condition     = aws_sns_topic.this[0].kms_master_key_id == module.lambda.kms_key[0].arn
    error_message = "The module's topic must be encrypted with the key module.lambda creates."
  }

  assert {
    condition     = [for s in jsondecode(module.lambda.role_policy.policy).Statement : s.Sid] == ["RotateOwnSecrets", "KeepRotationLogTags", "EndRotationRequests", "UseSecretKeysThroughSecretsManager", "DescribeRdsDatabases", "WriteOwnLogs", "SendTraces"]
    error_message = "The role policy must hold the rotation's statements and module.lambda's own, each once."
  }
}

run "refuses_unknown_engine" {
  command = plan

  variables {
    engine = "mysql"
  }

  expect_failures = [var.engine]
}

run "refuses_invalid_retention" {
  command = plan

  variables {
    log_retention_in_days = 42
  }

  expect_failures = [var.log_retention_in_days]
}

run "refuses_invalid_timeout_and_memory" {
  command = plan

  variables {
    timeout     = 901
    memory_size = 64
  }

  expect_failures = [var.timeout, var.memory_size]
}

run "refuses_half_vpc_config" {
  command = plan

  variables {
    vpc_config = {
      subnet_ids         = ["subnet-aaaa"]
      security_group_ids = []
    }
  }

  expect_failures = [var.vpc_config]
}

run "refuses_missing_kms_key" {
  command = plan

  variables {
    create_kms_key = false
  }

  expect_failures = [output.log_group_name]
}

run "refuses_missing_alarm_topic" {
  command = plan

  variables {
    create_alarm_topic = false
  }

  expect_failures = [output.error_alarm_arn, aws_cloudwatch_event_target.rotation]
}

run "refuses_missing_package" {
  command = plan

  variables {
    package_path = "tests/fixtures/missing.zip"
  }

  expect_failures = [var.package_path]
}

run "refuses_bad_user_lists" {
  command = plan

  variables {
    break_glass_users = ["orders_app", "two,users"]
    privileged_users  = ["postgres", ""]
  }

  expect_failures = [var.break_glass_users, var.privileged_users]
}

run "refuses_whitespace_in_user_lists" {
  command = plan

  variables {
    break_glass_users = ["legacy *"]
    privileged_users  = ["admin\t"]
  }

  expect_failures = [var.break_glass_users, var.privileged_users]
}

run "refuses_misplaced_wildcards_in_user_lists" {
  command = plan

  variables {
    break_glass_users = ["*"]
    privileged_users  = ["admin*user"]
  }

  expect_failures = [var.break_glass_users, var.privileged_users]
}

run "refuses_user_lists_in_environment_variables" {
  command = plan

  variables {
    environment_variables = { ROTATION_PRIVILEGED_USERS = "postgres" }
  }

  expect_failures = [output.function_arn]
}

run "refuses_a_cluster_arn_as_managed_arn" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["arn:aws:elasticache:us-east-1:123456789012:cluster:x"]
  }

  expect_failures = [var.managed_redis_arns]
}

run "refuses_a_wildcard_as_managed_arn" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["*"]
  }

  expect_failures = [var.managed_redis_arns]
}

run "refuses_a_wildcard_user_as_managed_arn" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["arn:aws:elasticache:eu-west-1:123456789012:user:*"]
  }

  expect_failures = [var.managed_redis_arns]
}

run "refuses_a_memorydb_user_arn_in_elasticache_form" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["arn:aws:memorydb:eu-west-1:123456789012:user:orders-app"]
  }

  expect_failures = [var.managed_redis_arns]
}

run "refuses_repeated_managed_arns" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app", "arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app"]
  }

  expect_failures = [var.managed_redis_arns]
}

run "refuses_managed_arns_for_postgres" {
  command = plan

  variables {
    timeout            = 660
    managed_redis_arns = ["arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app"]
  }

  expect_failures = [output.role_policy_json]
}

run "refuses_managed_endpoints_for_jwt" {
  command = plan

  variables {
    engine                  = "jwt"
    managed_redis_endpoints = ["sessions-abc123.serverless.euw1.cache.amazonaws.com"]
  }

  expect_failures = [output.role_policy_json]
}

run "refuses_wildcard_endpoints" {
  command = plan

  variables {
    engine                  = "redis"
    managed_redis_endpoints = ["*.serverless.euw1.cache.amazonaws.com"]
  }

  expect_failures = [var.managed_redis_endpoints]
}

run "refuses_endpoints_with_a_scheme_or_a_bad_port" {
  command = plan

  variables {
    engine                  = "redis"
    managed_redis_endpoints = ["rediss://sessions.internal:6379", "sessions.internal:70000"]
  }

  expect_failures = [var.managed_redis_endpoints]
}

run "refuses_a_port_zero_endpoint" {
  command = plan

  variables {
    engine                  = "redis"
    managed_redis_endpoints = ["sessions.internal:0"]
  }

  expect_failures = [var.managed_redis_endpoints]
}

run "refuses_a_wait_out_of_range" {
  command = plan

  variables {
    engine                     = "redis"
    managed_redis_wait_seconds = 901
  }

  expect_failures = [var.managed_redis_wait_seconds]
}

run "refuses_a_fractional_wait" {
  command = plan

  variables {
    engine                     = "redis"
    managed_redis_wait_seconds = 1.5
  }

  expect_failures = [var.managed_redis_wait_seconds]
}

# The default timeout (60) with the default wait (600): planned, with a warning.
run "warns_when_the_timeout_leaves_no_room_for_the_wait" {
  command = plan

  variables {
    engine             = "redis"
    managed_redis_arns = ["arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app"]
  }

  expect_failures = [check.managed_redis_wait_fits_in_timeout]
}

run "refuses_a_timeout_under_a_minute_with_managed_arns" {
  command = plan

  variables {
    engine                     = "redis"
    timeout                    = 30
    managed_redis_arns         = ["arn:aws:elasticache:eu-west-1:123456789012:user:sessions-app"]
    managed_redis_wait_seconds = 10
  }

  # The check warns as well: 30 s leave no room for the wait and the login test.
  expect_failures = [output.function_name, check.managed_redis_wait_fits_in_timeout]
}

run "refuses_managed_lists_in_environment_variables" {
  command = plan

  variables {
    engine                = "redis"
    environment_variables = { ROTATION_MANAGED_REDIS_ARNS = "*" }
  }

  expect_failures = [output.function_arn]
}
