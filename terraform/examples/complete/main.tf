locals {
  package_dir = coalesce(var.lambda_package_dir, "${path.root}/../../../target/lambda")

  # PostgreSQL and Redis live in the VPC; the JWT function needs no network
  # access besides Secrets Manager, so it runs outside.
  functions = {
    postgres = { in_vpc = true }
    redis    = { in_vpc = true }
    jwt      = { in_vpc = false }
  }

  secrets = {
    postgres = { name = "${var.name_prefix}/orders/postgres-app", rotate_after_days = 90 }
    redis    = { name = "${var.name_prefix}/sessions/redis-app", rotate_after_days = 90 }
    jwt      = { name = "${var.name_prefix}/auth/jwt-signing-key", rotate_after_days = 180 }
  }

  # Initial values; rotation replaces them. Keyed like local.secrets, kept
  # apart because they are sensitive.
  secret_values = {
    postgres = jsonencode(merge(
      {
        engine   = "postgres"
        host     = var.postgres.host
        port     = var.postgres.port
        username = var.postgres.username
        password = var.postgres_password
        dbname   = var.postgres.dbname
      },
      var.postgres.master_secret_arn == null ? {} : { masterarn = var.postgres.master_secret_arn },
    ))
    # AWS's ElastiCache rotation format: the user's ARN ties the secret to the
    # user (the function refuses one its ROTATION_MANAGED_REDIS_ARNS does not
    # list); host and port are where it tests the new password, over TLS,
    # trusting the Amazon Trust Services roots the cache's certificate chains to.
    redis = jsonencode({
      user_arn  = aws_elasticache_user.app.arn
      username  = aws_elasticache_user.app.user_name
      password  = sensitive(data.aws_secretsmanager_random_password.redis["app"].random_password)
      host      = aws_elasticache_serverless_cache.redis.endpoint[0].address
      port      = aws_elasticache_serverless_cache.redis.endpoint[0].port
      ca_bundle = file("${path.module}/amazon-trust-services-roots.pem")
    })
    jwt = jsonencode(merge(var.jwt_settings, { engine = "jwt" }))
  }
}

# One key for the three secrets. Passing it to both modules (instead of letting
# each secret create its own) keeps module.function from depending on
# module.secret, which depends on module.function.
resource "aws_kms_key" "secrets" {
  description             = "Secrets rotated by the ${var.name_prefix} functions"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EnableIamPolicies"
      Effect    = "Allow"
      Principal = { AWS = "${local.arn_prefix}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

module "function" {
  source   = "../../modules/rotation-function"
  for_each = local.functions

  name         = "${var.name_prefix}-${each.key}"
  engine       = each.key
  package_path = "${local.package_dir}/secret-rotation-${each.key}/bootstrap.zip"

  # The Redis function waits for the ElastiCache user to be active again
  # after ModifyUser: its timeout covers that wait (redis.tf).
  timeout = each.key == "redis" ? local.redis_function_timeout : 60

  vpc_config = each.value.in_vpc ? {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.functions.id]
  } : null

  secret_kms_key_arns    = [aws_kms_key.secrets.arn]
  privileged_secret_arns = each.key == "postgres" && var.postgres.master_secret_arn != null ? [var.postgres.master_secret_arn] : []

  # The one user the Redis function may change (IAM and its environment), and
  # the one endpoint it may log in to.
  managed_redis_arns         = each.key == "redis" ? [aws_elasticache_user.app.arn] : []
  managed_redis_endpoints    = each.key == "redis" ? [aws_elasticache_serverless_cache.redis.endpoint[0].address] : []
  managed_redis_wait_seconds = each.key == "redis" ? local.redis_wait_seconds : null

  create_kms_key     = false
  kms_key_arn        = aws_kms_key.observability.arn
  create_alarm_topic = false
  alarm_topic_arn    = aws_sns_topic.alarms.arn
  # Rotation events are account- and region-wide: one set of rules is enough.
  create_rotation_event_rules = each.key == "postgres"
}

module "secret" {
  source   = "../../modules/rotated-secret"
  for_each = local.secrets

  name                = each.value.name
  secret_string       = local.secret_values[each.key]
  create_kms_key      = false
  kms_key_arn         = aws_kms_key.secrets.arn
  rotation_lambda_arn = module.function[each.key].function_arn
  rotation_rules      = { automatically_after_days = each.value.rotate_after_days }

  # The first rotation starts at once and needs the functions in the VPC to
  # reach Secrets Manager (and RDS, ElastiCache) through the endpoints.
  depends_on = [aws_vpc_endpoint.this]
}
