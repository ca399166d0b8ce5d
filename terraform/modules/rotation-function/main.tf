data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  arn_prefix = "arn:${local.partition}"

  # Built from strings, not from the function's ARN: the role policy has to
  # exist before the function, so referencing the function would cycle.
  function_arn   = "${local.arn_prefix}:lambda:${local.region}:${local.account_id}:function:${var.name}"
  account_secret = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:*"

  # A boolean, not "arn == null": an ARN created in the same plan is unknown,
  # and count cannot depend on it.
  alarm_topic_arn = var.create_alarm_topic ? aws_sns_topic.this[0].arn : var.alarm_topic_arn

  # engines whose backend resolves RDS endpoints; must equal the library's engine registry
  engines_with_rds_lookups = ["postgres"]

  # Managed Redis targets (ElastiCache/MemoryDB users, replication groups with
  # an AUTH token), split by kind: each kind gets its own statement, with
  # exactly its own actions, on its own ARNs only (var.managed_redis_arns
  # refuses anything but these three forms, wildcards included).
  managed_elasticache_user_arns     = [for arn in var.managed_redis_arns : arn if can(regex("^arn:[^:]+:elasticache:[^:]+:[0-9]+:user:", arn))]
  managed_memorydb_user_arns        = [for arn in var.managed_redis_arns : arn if can(regex("^arn:[^:]+:memorydb:[^:]+:[0-9]+:user/", arn))]
  managed_replication_group_arns    = [for arn in var.managed_redis_arns : arn if can(regex("^arn:[^:]+:elasticache:[^:]+:[0-9]+:replicationgroup:", arn))]
  managed_redis_wait_seconds        = coalesce(var.managed_redis_wait_seconds, 600) # the function's default
  managed_redis_wait_margin_seconds = 30                                            # the login test and PutSecretValue after the wait
  managed_redis_minimum_timeout     = 60

  # Secrets Manager sets this resource key on a secret whose rotation function
  # is this one, so write access never reaches secrets rotated by anything else.
  rotation_lambda_condition = {
    "secretsmanager:resource/AllowRotationLambdaArn" = local.function_arn
  }

  # The rotation's own statements; module.lambda appends WriteOwnLogs,
  # SendTraces and, with vpc_config, ManageVpcNetworkInterfaces.
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
        # The tags the function keeps: the rotation log (one rotation:log:<version>
        # per rotation) and when the oldest previous JWT key stops verifying.
        Sid      = "KeepRotationLogTags"
        Effect   = "Allow"
        Action   = ["secretsmanager:TagResource"]
        Resource = local.account_secret
        Condition = {
          StringEquals              = local.rotation_lambda_condition
          "ForAllValues:StringLike" = { "aws:TagKeys" = ["rotation:log:*", "rotation:jwt-verify-until"] }
        }
      },
      {
        # When a rotation ends the function removes what asked for it (the
        # emergency mode, who asked and why), and drops the oldest log entries.
        Sid      = "EndRotationRequests"
        Effect   = "Allow"
        Action   = ["secretsmanager:UntagResource"]
        Resource = local.account_secret
        Condition = {
          StringEquals              = local.rotation_lambda_condition
          "ForAllValues:StringLike" = { "aws:TagKeys" = ["rotation:mode", "rotation:requested-by", "rotation:reason", "rotation:log:*", "rotation:jwt-verify-until"] }
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
    length(local.managed_elasticache_user_arns) == 0 ? [] : [
      {
        # setSecret/testSecret: DescribeUsers (by UserId: status, user name)
        # and ModifyUser (the user's password set). Both are scoped to the
        # user's ARN when the request names the user.
        Sid      = "RotateManagedElastiCacheUsers"
        Effect   = "Allow"
        Action   = ["elasticache:ModifyUser", "elasticache:DescribeUsers"]
        Resource = local.managed_elasticache_user_arns
      },
    ],
    length(local.managed_memorydb_user_arns) == 0 ? [] : [
      {
        # The same for MemoryDB: DescribeUsers (by UserName) and UpdateUser.
        Sid      = "RotateManagedMemoryDbUsers"
        Effect   = "Allow"
        Action   = ["memorydb:UpdateUser", "memorydb:DescribeUsers"]
        Resource = local.managed_memorydb_user_arns
      },
    ],
    length(local.managed_replication_group_arns) == 0 ? [] : [
      {
        # AUTH tokens of replication groups without RBAC: ModifyReplicationGroup
        # (AuthToken, AuthTokenUpdateStrategy, ApplyImmediately) and
        # DescribeReplicationGroups (by ReplicationGroupId: status).
        Sid      = "RotateManagedReplicationGroupAuthTokens"
        Effect   = "Allow"
        Action   = ["elasticache:ModifyReplicationGroup", "elasticache:DescribeReplicationGroups"]
        Resource = local.managed_replication_group_arns
      },
    ],
    contains(local.engines_with_rds_lookups, var.engine) ? [
      {
        # Resolves host and port of the RDS instance or Aurora cluster.
        Sid      = "DescribeRdsDatabases"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
        Resource = ["${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*", "${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*"]
      },
    ] : [],
  )

  # The key module.lambda creates also encrypts the module's topic: its
  # publishers need it after the key's EnableIamPolicies and AllowCloudWatchLogs.
  kms_key_statements = var.create_alarm_topic ? [
    {
      Sid       = "AllowAlarmPublishers"
      Effect    = "Allow"
      Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
      Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
      Resource  = "*"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    },
  ] : []

  # Lists go to the function comma-joined; a variable is set only when its
  # list is non-empty, so an unset list and an empty one read the same.
  function_environment = merge(
    var.environment_variables,
    length(var.break_glass_users) == 0 ? {} : { ROTATION_BREAK_GLASS_USERS = join(",", var.break_glass_users) },
    length(var.privileged_users) == 0 ? {} : { ROTATION_PRIVILEGED_USERS = join(",", var.privileged_users) },
    length(var.managed_redis_arns) == 0 ? {} : { ROTATION_MANAGED_REDIS_ARNS = join(",", var.managed_redis_arns) },
    length(var.managed_redis_endpoints) == 0 ? {} : { ROTATION_MANAGED_REDIS_ENDPOINTS = join(",", var.managed_redis_endpoints) },
    var.managed_redis_wait_seconds == null ? {} : { ROTATION_MANAGED_WAIT_SECONDS = tostring(var.managed_redis_wait_seconds) },
  )

  # Set only through the typed inputs above, which are validated.
  reserved_environment_variables = [
    "ROTATION_BREAK_GLASS_USERS", "ROTATION_PRIVILEGED_USERS",
    "ROTATION_MANAGED_REDIS_ARNS", "ROTATION_MANAGED_REDIS_ENDPOINTS", "ROTATION_MANAGED_WAIT_SECONDS",
  ]

  rotation_events = {
    failed    = "RotationFailed"
    abandoned = "RotationAbandoned"
  }
}

################################################################################
# Function, role, logs, their key and the Errors alarm (shared with the
# rotation-monitor module); see migrations.tf for the addresses they had
################################################################################

module "lambda" {
  source = "../lambda-function"

  name                           = var.name
  description                    = "Rotates ${var.engine} secrets for AWS Secrets Manager"
  package_path                   = var.package_path
  architecture                   = var.architecture
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrent_executions
  environment_variables          = local.function_environment
  vpc_config                     = var.vpc_config

  role_description          = "Execution role of the ${var.name} secret rotation function"
  role_permissions_boundary = var.role_permissions_boundary
  policy_name               = "secret-rotation"
  policy_statements         = local.policy_statements

  log_retention_in_days     = var.log_retention_in_days
  create_kms_key            = var.create_kms_key
  kms_key_arn               = var.kms_key_arn
  kms_key_description       = "Logs and alarms of the ${var.name} rotation function"
  kms_key_policy_statements = local.kms_key_statements

  alarm_topic_arn         = local.alarm_topic_arn
  error_alarm_description = "The ${var.name} secret rotation function reported errors."
  alarm_period_seconds    = 300

  tags = var.tags
}

################################################################################
# Managed Redis: room for the wait in the Lambda timeout
################################################################################

# A warning, not an error: the function stops waiting before the Lambda
# timeout, so a shorter timeout only means a step may give up early (the step
# fails, Secrets Manager reports RotationFailed, and the user keeps both its
# current and pending passwords). Under a minute is refused (output
# function_name): one ModifyUser -> active cycle takes longer than that.
check "managed_redis_wait_fits_in_timeout" {
  assert {
    condition     = length(var.managed_redis_arns) == 0 || var.timeout >= local.managed_redis_wait_seconds + local.managed_redis_wait_margin_seconds
    error_message = "With managed_redis_arns the function waits up to ${local.managed_redis_wait_seconds} s (managed_redis_wait_seconds, default 600) for a user or replication group to become active again, but timeout is ${var.timeout} s: a rotation step may stop before the change is done. Set timeout to at least the wait + ${local.managed_redis_wait_margin_seconds} s (${local.managed_redis_wait_seconds + local.managed_redis_wait_margin_seconds}; Lambda allows up to 900) or lower managed_redis_wait_seconds."
  }
}

################################################################################
# Alarm topic and failed/abandoned rotations, to SNS (the Errors alarm is
# module.lambda's)
################################################################################

resource "aws_sns_topic" "this" {
  count = var.create_alarm_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = module.lambda.kms_key_arn
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
