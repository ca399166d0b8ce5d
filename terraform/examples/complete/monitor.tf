# Rotation health of the example's secrets: an hourly run that alarms on an
# overdue rotation or a stuck AWSPENDING, to the topic the functions' alarms
# and rotation events use.
module "monitor" {
  source = "../../modules/rotation-monitor"

  name         = "${var.name_prefix}-monitor"
  package_path = "${local.package_dir}/secret-rotation-monitor/bootstrap.zip"

  # The example's secrets are all named "<name_prefix>/...".
  secret_name_prefix = "${var.name_prefix}/"

  create_kms_key  = false
  kms_key_arn     = aws_kms_key.observability.arn
  alarm_topic_arn = aws_sns_topic.alarms.arn
}
