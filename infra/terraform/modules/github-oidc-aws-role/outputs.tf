output "role_arn" {
  description = "For aws-actions/configure-aws-credentials `role-to-assume`."
  value       = aws_iam_role.opsctl.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.opsctl.name
}

output "oidc_provider_arn" {
  description = "The GitHub OIDC provider the role trusts."
  value       = local.oidc_provider_arn
}

output "trusted_subjects" {
  description = "Every `sub` the trust policy accepts; a workflow whose sub is not here gets \"Not authorized to perform sts:AssumeRoleWithWebIdentity\"."
  value       = local.trusted_subjects
}

output "policy_json" {
  description = "The opsctl permissions policy, for review."
  value       = data.aws_iam_policy_document.opsctl.json
}
