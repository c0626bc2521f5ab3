"""Start, stop, continue and resume a run's Step Functions execution.

The execution is named after the run, which makes both calls idempotent: a second StartExecution for
the same run finds it (ExecutionAlreadyExists), and the execution ARN to stop is derived from the run id
without a lookup. A run that outgrows one execution's history continues in `<run_id>-<n>` (the run item
records the current name). Only ids and counters travel in the input (the 256 KiB payload limit; the
rest is in DynamoDB).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any


def execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str | None, region: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.region = region
        self._client: Any = None

    def _boto(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions", region_name=self.region)
        return self._client

    def _sfn(self) -> tuple[Any, str]:
        if not self.state_machine_arn:
            raise RuntimeError("STATE_MACHINE_ARN is not configured")
        return self._boto(), self.state_machine_arn

    def start(self, run_id: str, session_id: str) -> None:
        client, arn = self._sfn()
        with contextlib.suppress(client.exceptions.ExecutionAlreadyExists):
            # `loop` is null for a new run and the counters for a continuation (the Entry state tells
            # them apart); present either way, so no state reads a missing path.
            client.start_execution(
                stateMachineArn=arn,
                name=run_id,
                input=json.dumps({"run_id": run_id, "session_id": session_id, "loop": None}),
            )

    def stop(self, run_id: str, cause: str, execution: str | None = None) -> None:
        client, arn = self._sfn()
        with contextlib.suppress(client.exceptions.ExecutionDoesNotExist):
            client.stop_execution(executionArn=execution_arn(arn, execution or run_id), cause=cause[:256])

    def continue_as(self, run_id: str, execution: str, state: dict[str, Any]) -> None:
        client, arn = self._sfn()
        with contextlib.suppress(client.exceptions.ExecutionAlreadyExists):
            client.start_execution(stateMachineArn=arn, name=execution, input=json.dumps(state))

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        client = self._boto()
        try:
            client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except (client.exceptions.TaskTimedOut, client.exceptions.TaskDoesNotExist):
            return False
        except client.exceptions.InvalidToken:
            return False
        return True
