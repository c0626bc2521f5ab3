"""Step Functions task `start-run` (see riadex.entrypoints.tasks.handlers)."""

from riadex.entrypoints.tasks.handlers import lambda_handler

handler = lambda_handler("start-run")
