# Addresses of the resources that moved into module.lambda (../lambda-function),
# so that an upgrade moves them in the state instead of destroying and
# recreating the function, its role, its log group and its key.

moved {
  from = aws_kms_key.this
  to   = module.lambda.aws_kms_key.this
}

moved {
  from = aws_iam_role.this
  to   = module.lambda.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.this
  to   = module.lambda.aws_iam_role_policy.this
}

moved {
  from = aws_cloudwatch_log_group.this
  to   = module.lambda.aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.this
  to   = module.lambda.aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_metric_alarm.errors
  to   = module.lambda.aws_cloudwatch_metric_alarm.errors
}
