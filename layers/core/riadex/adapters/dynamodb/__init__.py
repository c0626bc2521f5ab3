"""DynamoDB through pynamodb: the table definitions (the one source of truth) and the repositories."""
