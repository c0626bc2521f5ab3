"""`python -m riadex.entrypoints.cli` runs the same command as the `riadex` console script."""

from riadex.entrypoints.cli.main import main

main()
