# A small private network: two subnets without a route to the internet. The
# functions reach AWS APIs through interface endpoints.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones are used (names are sorted), so a zone added later changes nothing.
  state = "available"
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Stand-in for the platform team's VPC, where flow logs belong; the example keeps to what rotation needs.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # needed by the endpoints' private DNS

  tags = { Name = var.name_prefix }
}

# Lock down the default security group; nothing uses it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
}

resource "aws_subnet" "private" {
  count = 2

  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = false

  tags = { Name = "${var.name_prefix}-private-${count.index}" }
}

resource "aws_security_group" "functions" {
  #checkov:skip=CKV2_AWS_5:Attached to the PostgreSQL and Redis functions through the module's vpc_config, which checkov does not follow.
  name        = "${var.name_prefix}-functions"
  description = "Rotation functions: out to the endpoints and the databases only"
  vpc_id      = aws_vpc.this.id

  egress {
    description = "HTTPS to the VPC interface endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "PostgreSQL"
    from_port   = var.postgres.port
    to_port     = var.postgres.port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "Valkey over TLS to the serverless cache endpoint"
    from_port   = local.redis_port
    to_port     = local.redis_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name_prefix}-endpoints"
  description = "Interface endpoints: HTTPS from the rotation functions"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "HTTPS from the rotation functions"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    security_groups = [aws_security_group.functions.id]
  }
}

# Secrets Manager for every function in the VPC; RDS because the PostgreSQL
# function resolves host and port with DescribeDBInstances/DescribeDBClusters;
# ElastiCache because the Redis function changes its user's passwords with
# DescribeUsers/ModifyUser.
resource "aws_vpc_endpoint" "this" {
  for_each = toset(["secretsmanager", "rds", "elasticache"])

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]

  tags = { Name = "${var.name_prefix}-${each.key}" }
}
