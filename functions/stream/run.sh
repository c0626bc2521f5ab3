#!/bin/bash
# The SSE function: uvicorn serving the streaming app behind the Lambda Web Adapter, which the
# template wires as AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap with AWS_LWA_INVOKE_MODE=response_stream.
# The adapter forwards each invocation to http://127.0.0.1:$PORT and streams the response back.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT:-.}:${PYTHONPATH:-}"
exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log --lifespan off app:app
