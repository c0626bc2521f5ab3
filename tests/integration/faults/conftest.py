"""The fault suite runs on the agent stack of tests/integration/agent (fixtures re-exported here)."""

from tests.integration.agent.conftest import agent_stack  # noqa: F401 - a fixture
from tests.integration.runs.conftest import lambda_server  # noqa: F401 - a fixture
