# meterd on every container instance of an ECS cluster, as the Datadog agent
# runs there: a task definition (task-definition.json in this folder, the
# one tests/e2e/test_deploy.py runs with the real image) and a service with
# scheduling_strategy = "DAEMON". The module replaces the JSON's example
# image, backend URL, tags and API key parameter with its variables.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 4.0"
    }
  }
}

locals {
  task       = jsondecode(file("${path.module}/task-definition.json"))
  container  = local.task.containerDefinitions[0]
  overridden = ["DD_DD_URL", "DD_TAGS"]
  environment = concat(
    [for e in local.container.environment : e if !contains(local.overridden, e.name)],
    [
      { name = "DD_DD_URL", value = var.dd_url },
      { name = "DD_TAGS", value = join(" ", var.tags) },
    ],
  )
  container_definition = merge(local.container, {
    image       = var.image
    environment = local.environment
    secrets     = [{ name = "DD_API_KEY", valueFrom = var.api_key_arn }]
  })
}

resource "aws_ecs_task_definition" "meterd" {
  family                   = var.name
  network_mode             = local.task.networkMode
  pid_mode                 = local.task.pidMode
  requires_compatibilities = local.task.requiresCompatibilities
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode([local.container_definition])

  dynamic "volume" {
    for_each = local.task.volumes
    content {
      name      = volume.value.name
      host_path = volume.value.host.sourcePath
    }
  }
}

resource "aws_ecs_service" "meterd" {
  name                = var.name
  cluster             = var.cluster_arn
  task_definition     = aws_ecs_task_definition.meterd.arn
  launch_type         = "EC2"
  scheduling_strategy = "DAEMON"
  # A daemon replaces its task on each instance in place during a deploy.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
}

# The execution role lets the ECS agent read the API key from SSM Parameter
# Store or Secrets Manager and hand it to the container as DD_API_KEY.
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "read_api_key" {
  statement {
    actions   = ["ssm:GetParameters", "secretsmanager:GetSecretValue"]
    resources = [var.api_key_arn]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "read_api_key" {
  name   = "${var.name}-read-api-key"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_api_key.json
}
