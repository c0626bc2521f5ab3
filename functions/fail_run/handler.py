"""Step Functions task `fail-run` (see riadex.entrypoints.tasks.handlers)."""

from riadex.entrypoints.tasks.handlers import lambda_handler

handler = lambda_handler("fail-run")
