"""The template tier: the deployed stack (template.yaml as SAM translates it) against the recording the
integration and e2e scenarios left (`make test` runs them with RIADEX_CALL_RECORD=<dir> first)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.template.deployed import Deployed, deployed
from tests.template.recording import ENV, Naming, Recording, load, record_dir


@pytest.fixture(scope="session")
def stack() -> Deployed:
    """template.yaml, or the template in RIADEX_TEMPLATE_FILE (to hold another version to the recording)."""
    other = os.environ.get("RIADEX_TEMPLATE_FILE")
    return deployed(Path(other).read_text() if other else None)


@pytest.fixture(scope="session")
def recording() -> Recording:
    directory = record_dir()
    if directory is None or not directory.is_dir():
        pytest.skip(
            f"no recording: {ENV} is not set (make test records the integration and e2e scenarios "
            "first, then runs this tier)"
        )
    loaded = load(directory)
    if loaded.empty:
        pytest.skip(f"the recording in {directory} is empty (run the scenarios with {ENV}={directory})")
    return loaded


@pytest.fixture(scope="session")
def naming(stack: Deployed, recording: Recording) -> Naming:
    return Naming(stack, recording)
