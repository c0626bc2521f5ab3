"""Step Functions task `act` of the agent loop (see riadex.entrypoints.tasks.agent_handlers)."""

from riadex.entrypoints.tasks.agent_handlers import agent_lambda_handler

handler = agent_lambda_handler("act")
