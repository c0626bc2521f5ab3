"""Prints the cold import time of every packaged function at the end of the run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.packaging.test_packaging import REPORT, pytest_report

    if REPORT:
        terminalreporter.section("packaged functions: cold import in a clean runtime interpreter")
        for line in pytest_report():
            terminalreporter.write_line(line)
