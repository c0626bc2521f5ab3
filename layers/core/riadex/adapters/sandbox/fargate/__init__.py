"""One ECS Fargate task per session."""
