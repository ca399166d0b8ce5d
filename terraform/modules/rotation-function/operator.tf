# What the people and pipelines who run rotationctl (status, history, rotate,
# emergency; not --local, which acts as the function itself) need on the
# secrets this function rotates, and nothing of their values. Output only:
# attach it to the operators' own roles.
locals {
  operator_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # ListSecrets has no resource-level permissions.
        Sid      = "ListSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:ListSecrets"]
        Resource = "*"
      },
      {
        Sid       = "InspectRotatedSecrets"
        Effect    = "Allow"
        Action    = ["secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds"]
        Resource  = local.account_secret
        Condition = { StringEquals = local.rotation_lambda_condition }
      },
      {
        # Starts a rotation through this function; never points a secret at
        # another function (RotationLambdaARN, when the request sets it).
        Sid      = "StartRotations"
        Effect   = "Allow"
        Action   = ["secretsmanager:RotateSecret"]
        Resource = local.account_secret
        Condition = {
          StringEquals         = local.rotation_lambda_condition
          StringEqualsIfExists = { "secretsmanager:RotationLambdaARN" = local.function_arn }
        }
      },
      {
        # RotateSecret also needs the caller's lambda:InvokeFunction on the
        # rotation function.
        Sid      = "InvokeForRotation"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = local.function_arn
      },
      {
        # `rotationctl rotate` and `emergency` tag who asks and why (and
        # rotation:mode=emergency) before RotateSecret, and remove the tags if
        # the rotation cannot start. Never the rotation log, which the function
        # alone writes.
        Sid      = "RequestRotations"
        Effect   = "Allow"
        Action   = ["secretsmanager:TagResource", "secretsmanager:UntagResource"]
        Resource = local.account_secret
        Condition = {
          StringEquals                = local.rotation_lambda_condition
          "ForAllValues:StringEquals" = { "aws:TagKeys" = ["rotation:mode", "rotation:requested-by", "rotation:reason"] }
        }
      },
    ]
  }
}
