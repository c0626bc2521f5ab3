"""Build the configured SandboxProvider. Each backend's SDK is imported only when chosen, so the API
Lambda never loads the docker SDK and a laptop never needs ECS settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from riadex.application.sandbox_ports import SandboxProvider
from riadex.config import Settings

if TYPE_CHECKING:
    from riadex.adapters.dynamodb.sandbox_records import SecretStore


def locate_server_dir(configured: Path | None) -> Path:
    """The directory holding the tool server package: SANDBOX_SERVER_DIR, else the repo's sandbox-image/."""
    if configured is not None:
        return configured
    for parent in Path(__file__).resolve().parents:
        if (parent / "sandbox-image" / "sandbox_server").is_dir():
            return parent / "sandbox-image"
    return Path("sandbox-image").resolve()


def build_provider(settings: Settings, secrets: SecretStore | None = None) -> SandboxProvider:
    """The tool server's own idle timer is set to twice the reaper's threshold (plus a minute): the
    reaper normally releases an idle sandbox first (a `released` event), and the timer is only the
    backstop for when the reaper does not run (which would otherwise read as `lost`)."""
    backend = settings.sandbox_backend
    server_idle = settings.sandbox_idle_timeout * 2 + 60
    if backend == "docker":
        from riadex.adapters.sandbox.docker.provider import DockerSandboxes

        return DockerSandboxes.from_env(
            image=settings.sandbox_image,
            port=settings.sandbox_port,
            memory_bytes=settings.sandbox_memory_mb * 1024 * 1024,
            nano_cpus=int(settings.sandbox_cpus * 1e9),
            pids_max=settings.sandbox_pids_max,
            idle_timeout_seconds=server_idle,
            start_timeout_seconds=settings.sandbox_start_timeout,
            network=settings.sandbox_network,
            allow_hosts=settings.sandbox_allow_hosts,
            publish_host=settings.sandbox_publish_host,
        )
    if backend == "fargate":
        from riadex.adapters.aws_clients import lazy_client
        from riadex.adapters.dynamodb.sandbox_pool import DynamoSandboxPool
        from riadex.adapters.sandbox.fargate.provider import FargateSandboxes

        return FargateSandboxes(
            ecs=lazy_client("ecs", settings.aws_region),
            cluster=settings.sandbox_cluster,
            task_definition=settings.sandbox_task_definition,
            subnets=settings.sandbox_subnet_list(),
            security_groups=settings.sandbox_security_group_list(),
            container_name=settings.sandbox_container_name,
            port=settings.sandbox_port,
            idle_timeout_seconds=server_idle,
            start_timeout_seconds=settings.sandbox_start_timeout,
            pool_size=settings.sandbox_pool_size,
            # One pool per task definition (a new image: a new pool); tokens kept like secrets.
            pool_store=DynamoSandboxPool(settings.sandbox_task_definition, secrets),
        )
    from riadex.adapters.sandbox.process.provider import ProcessSandboxes

    return ProcessSandboxes(
        server_dir=locate_server_dir(settings.sandbox_server_dir),
        root=(settings.data_dir / "sandboxes").resolve(),
        python=settings.sandbox_python or sys.executable,
        jail=settings.sandbox_jail,
        network=settings.sandbox_network,
        allow_hosts=settings.sandbox_allow_hosts,
        memory_bytes=settings.sandbox_memory_mb * 1024 * 1024,
        pids_max=settings.sandbox_pids_max,
        browser=settings.sandbox_browser,
        vnc=settings.sandbox_vnc,
        idle_timeout_seconds=server_idle,
        start_timeout_seconds=settings.sandbox_start_timeout,
    )
