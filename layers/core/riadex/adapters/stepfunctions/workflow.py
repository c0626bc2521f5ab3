"""Start and stop a run's Step Functions execution.

The execution is named after the run, which makes both calls idempotent: a second StartExecution for
the same run finds it (ExecutionAlreadyExists), and the execution ARN to stop is derived from the run id
without a lookup. Only ids travel in the input (the 256 KiB payload limit; the rest is in DynamoDB).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{run_id}"


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str | None, region: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.region = region
        self._client: Any = None

    def _sfn(self) -> tuple[Any, str]:
        if not self.state_machine_arn:
            raise RuntimeError("STATE_MACHINE_ARN is not configured")
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions", region_name=self.region)
        return self._client, self.state_machine_arn

    def start(self, run_id: str, session_id: str) -> None:
        client, arn = self._sfn()
        with contextlib.suppress(client.exceptions.ExecutionAlreadyExists):
            client.start_execution(
                stateMachineArn=arn,
                name=run_id,
                input=json.dumps({"run_id": run_id, "session_id": session_id}),
            )

    def stop(self, run_id: str, cause: str) -> None:
        client, arn = self._sfn()
        with contextlib.suppress(client.exceptions.ExecutionDoesNotExist):
            client.stop_execution(executionArn=execution_arn(arn, run_id), cause=cause[:256])
