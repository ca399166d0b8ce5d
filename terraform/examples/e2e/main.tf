# The complete example, made from the same modules, for an AWS emulator
# (moto) instead of AWS. What the emulator lacks is left out or replaced:
# - no VPC, subnets, security groups or endpoints: the functions run outside a
#   VPC and reach the test's servers on the loopback;
# - no ElastiCache user group or serverless cache: one ElastiCache user, which
#   the test kit's emulator applies (ACL SETUSER) to the test's TLS
#   redis-server at var.redis;
# - the PostgreSQL user is the test's (var.postgres), alternating with its admin when given;
# - one KMS key for the secrets, the log groups and the alarm topic.
# Secrets are deleted without a recovery window, so a reused emulator holds
# no leftover of an earlier run.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  arn_prefix = "arn:${data.aws_partition.current.partition}"

  functions = toset(["postgres", "redis", "jwt"])

  # The monitor watches "<name_prefix>/", so every secret is named under it.
  secret_names = {
    postgres = "${var.name_prefix}/postgres-app"
    redis    = "${var.name_prefix}/redis-app"
    jwt      = "${var.name_prefix}/jwt-signing-key"
  }

  # What the Redis function may change: the one ElastiCache user (IAM and its
  # environment), the one host it may log in to, and how long it waits for
  # the user to be active again after ModifyUser (the emulator keeps it
  # "modifying" for a few seconds). Its timeout leaves room for that wait and
  # for the login test.
  managed_redis = {
    arns         = concat([aws_elasticache_user.app.arn], var.redis.extra_managed_arns)
    endpoints    = [var.redis.host]
    wait_seconds = 60
  }
  timeouts = {
    postgres = 60
    redis    = local.managed_redis.wait_seconds + 60
    jwt      = 60
  }

  # Initial values; rotation replaces them. Kept apart from the names because
  # they are sensitive.
  secret_values = {
    # AWS's format. With an admin, masterarn names the admin secret and the
    # users alternate (<user> / <user>_clone): the previous credential keeps
    # working until the next rotation. Without one, single-user (the user
    # changes its own password, a hard cut).
    postgres = jsonencode(merge(
      {
        engine   = "postgres"
        host     = var.postgres.host
        port     = var.postgres.port
        username = var.postgres.username
        password = var.postgres.password
        dbname   = var.postgres.dbname
      },
      var.postgres.ssl == null ? {} : { ssl = var.postgres.ssl },
      local.postgres_admin ? { masterarn = aws_secretsmanager_secret.postgres_admin[0].arn, strategy = "alternating-users" } : {},
    ))
    # AWS's ElastiCache rotation format (no engine): the user's ARN ties the
    # secret to the user the function may change; host and port are where it
    # tests the new password over TLS, trusting ca_bundle only.
    redis = jsonencode({
      user_arn  = aws_elasticache_user.app.arn
      username  = aws_elasticache_user.app.user_name
      password  = sensitive(data.aws_secretsmanager_random_password.redis.random_password)
      host      = var.redis.host
      port      = var.redis.port
      ca_bundle = var.redis.ca_bundle
    })
    # The minimal JWT value: the first rotation creates the access key set
    # with the default policy (HS256).
    jwt = jsonencode({ engine = "jwt" })
  }
}

resource "aws_kms_key" "this" {
  description             = "Secrets, logs and alarms of the ${var.name_prefix} rotation functions"
  enable_key_rotation     = true
  deletion_window_in_days = 7
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
        Principal = { Service = "logs.${var.region}.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "${local.arn_prefix}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*" } }
      },
      {
        Sid       = "AllowAlarmPublishers"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

# One topic for the alarms and rotation events of the functions and the monitor.
resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_sns_topic_policy" "alarms" {
  arn = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      for sid, service in { AllowEventBridgeRules = "events", AllowCloudWatchAlarms = "cloudwatch" } : {
        Sid                                       = sid
        Effect                                    = "Allow"
        Principal                                 = { Service = "${service}.amazonaws.com" }
        Action                                    = "sns:Publish"
        Resource                                  = aws_sns_topic.alarms.arn
        Condition                                 = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      }
    ]
  })
}

# The user's initial password (the first rotation replaces it). Generated by
# Secrets Manager, as in the complete example: 32 letters and digits fit
# ElastiCache's rules.
data "aws_secretsmanager_random_password" "redis" {
  password_length     = 32
  exclude_punctuation = true
}

# The ElastiCache user the Redis function rotates with ModifyUser. Terraform
# must not send the initial password back after a rotation, nor report the
# changed password count as drift; tags_all too, because the test kit's
# emulator drops the tags of ElastiCache users (default_tags would otherwise
# show as a change on every plan).
resource "aws_elasticache_user" "app" {
  user_id       = "${var.name_prefix}-redis-app"
  user_name     = var.redis.username
  engine        = "valkey"
  access_string = var.redis.access_string

  authentication_mode {
    type      = "password"
    passwords = [sensitive(data.aws_secretsmanager_random_password.redis.random_password)]
  }

  lifecycle {
    ignore_changes = [passwords, authentication_mode, tags_all]
  }
}

module "function" {
  source   = "../../modules/rotation-function"
  for_each = local.functions

  name         = "${var.name_prefix}-${each.key}"
  engine       = each.key
  package_path = "${var.lambda_package_dir}/secret-rotation-${each.key}/bootstrap.zip"
  timeout      = local.timeouts[each.key]

  secret_kms_key_arns    = [aws_kms_key.this.arn]
  privileged_secret_arns = each.key == "postgres" && local.postgres_admin ? [aws_secretsmanager_secret.postgres_admin[0].arn] : []

  managed_redis_arns         = each.key == "redis" ? local.managed_redis.arns : []
  managed_redis_endpoints    = each.key == "redis" ? local.managed_redis.endpoints : []
  managed_redis_wait_seconds = each.key == "redis" ? local.managed_redis.wait_seconds : null

  create_kms_key     = false
  kms_key_arn        = aws_kms_key.this.arn
  create_alarm_topic = false
  alarm_topic_arn    = aws_sns_topic.alarms.arn
  # Rotation events are account- and region-wide: one set of rules is enough.
  create_rotation_event_rules = each.key == "postgres"
}

module "secret" {
  source   = "../../modules/rotated-secret"
  for_each = local.secret_names

  name                    = each.value
  secret_string           = local.secret_values[each.key]
  create_kms_key          = false
  kms_key_arn             = aws_kms_key.this.arn
  recovery_window_in_days = 0
  rotation_lambda_arn     = module.function[each.key].function_arn
  rotation_rules          = { automatically_after_days = 30 }
  rotate_immediately      = var.rotate_immediately
}

# Rotation health of the example's secrets ("<name_prefix>/..."), alarming to
# the same topic.
module "monitor" {
  source = "../../modules/rotation-monitor"

  name               = "${var.name_prefix}-monitor"
  package_path       = "${var.lambda_package_dir}/secret-rotation-monitor/bootstrap.zip"
  secret_name_prefix = "${var.name_prefix}/"

  create_kms_key  = false
  kms_key_arn     = aws_kms_key.this.arn
  alarm_topic_arn = aws_sns_topic.alarms.arn
}

################################################################################
# The PostgreSQL admin (optional): the admin secret the application secret's
# masterarn names. Outside the monitor's prefix: it is not rotated here.
################################################################################

locals {
  postgres_admin = var.postgres.admin_username != null
}

resource "aws_secretsmanager_secret" "postgres_admin" {
  #checkov:skip=CKV2_AWS_57:the test's own superuser, created and removed with the fixture; rotating it is not what the example shows
  count = local.postgres_admin ? 1 : 0

  name                    = "${var.name_prefix}-admin/postgres"
  description             = "The PostgreSQL admin of the ${var.name_prefix} example (masterarn of its application secret)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "postgres_admin" {
  count = local.postgres_admin ? 1 : 0

  secret_id = aws_secretsmanager_secret.postgres_admin[0].id
  secret_string = jsonencode(merge(
    {
      engine   = "postgres"
      host     = var.postgres.host
      port     = var.postgres.port
      username = var.postgres.admin_username
      password = var.postgres.admin_password
      dbname   = var.postgres.dbname
    },
    var.postgres.ssl == null ? {} : { ssl = var.postgres.ssl },
  ))
}

################################################################################
# The operators' role: what `rotationctl` needs for the example's secrets,
# from each function's operator_policy_json. Anyone in the account may assume
# it here; narrow the principal to your operators and pipelines.
################################################################################

resource "aws_iam_role" "operator" {
  name = "${var.name_prefix}-operator"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "${local.arn_prefix}:iam::${local.account_id}:root" }
    }]
  })
}

resource "aws_iam_role_policy" "operator" {
  for_each = local.functions

  name   = "rotationctl-${each.key}"
  role   = aws_iam_role.operator.id
  policy = module.function[each.key].operator_policy_json
}
