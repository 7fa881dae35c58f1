variable "name" {
  description = "Name of the task definition family, the service and the IAM role prefix."
  type        = string
  default     = "meterd"
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster whose every container instance runs one meterd."
  type        = string
}

variable "image" {
  description = "The meterd image (built with packaging/docker/build.sh and pushed to your registry)."
  type        = string
}

variable "api_key_arn" {
  description = "ARN of the SSM parameter or Secrets Manager secret holding the API key."
  type        = string
}

variable "dd_url" {
  description = "Backend URL: Datadog's intake, or any backend with the Datadog series API (VictoriaMetrics: http://host:8428/datadog)."
  type        = string
}

variable "tags" {
  description = "Tags (key:value) added to every metric."
  type        = list(string)
  default     = []
}
