"""Sandbox backends behind SandboxProvider: process (bubblewrap), docker, fargate."""
