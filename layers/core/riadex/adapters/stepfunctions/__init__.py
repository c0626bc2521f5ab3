"""The Workflow port over Step Functions: one Standard execution per run, named after the run."""
