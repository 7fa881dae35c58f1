output "task_definition_arn" {
  description = "ARN of the registered meterd task definition."
  value       = aws_ecs_task_definition.meterd.arn
}

output "service_name" {
  description = "Name of the DAEMON service."
  value       = aws_ecs_service.meterd.name
}
