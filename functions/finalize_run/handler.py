"""Step Functions task `finalize-run` (see riadex.entrypoints.tasks.handlers)."""

from riadex.entrypoints.tasks.handlers import lambda_handler

handler = lambda_handler("finalize-run")
