"""One container per session through the docker SDK (Docker or podman API)."""
