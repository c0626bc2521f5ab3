"""The `docker` backend: one container per session through the docker SDK, against DOCKER_HOST.

Works with a Docker engine or podman's Docker-compatible API. Each container gets memory,
CPU and pid limits, `init` (tini-like reaping; stops in 0.1 s), no capabilities and no privilege gain,
labels naming its session and owner, and no environment but the tool server's own: the host's
variables never reach it. Networking is
slirp4netns on podman (user-space, leaves no host state) with the tool port published on 127.0.0.1
only; on a real Docker engine it is the default bridge, published the same way.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from riadex.adapters.tools import server
from riadex.domain.errors import Unavailable
from riadex.domain.sandboxes import SandboxHandle

BACKEND = "docker"
LABEL_SESSION = "riadex.session"
LABEL_OWNER = "riadex.owner"
LABEL_SANDBOX = "riadex.sandbox"


@dataclass
class DockerSandboxes:
    client: Any
    image: str
    port: int = 8080
    memory_bytes: int = 1024 * 1024 * 1024
    nano_cpus: int = 1_000_000_000
    pids_max: int = 256
    idle_timeout_seconds: int = 1800
    start_timeout_seconds: float = 60.0
    network_mode: str | None = None
    """None: slirp4netns on podman, the engine's default elsewhere."""

    @classmethod
    def from_env(cls, **kwargs: Any) -> DockerSandboxes:
        try:
            client = docker.from_env(timeout=30)
        except DockerException as exc:
            raise Unavailable(f"no container engine reachable (DOCKER_HOST): {exc}") from None
        return cls(client=client, **kwargs)

    @property
    def backend(self) -> str:
        return BACKEND

    def _network_mode(self) -> str | None:
        if self.network_mode is None:
            try:
                components = self.client.version().get("Components") or []
                podman = any("podman" in str(c.get("Name", "")).lower() for c in components)
            except (APIError, DockerException):
                podman = False
            self.network_mode = "slirp4netns" if podman else ""
        return self.network_mode or None

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        secret = secrets.token_urlsafe(32)
        try:
            container = self.client.containers.run(
                self.image,
                detach=True,
                name=f"riadex-{sandbox_id}",
                environment={
                    "SANDBOX_SECRET": secret,
                    "SANDBOX_HOST": "0.0.0.0",
                    "SANDBOX_PORT": str(self.port),
                    "SANDBOX_WORKSPACE": "/workspace",
                    "SANDBOX_IDLE_TIMEOUT": str(self.idle_timeout_seconds),
                    # SANDBOX_BROWSER / SANDBOX_VNC: the image's own defaults (WITH_BROWSER) decide.
                },
                labels={LABEL_SESSION: session_id, LABEL_OWNER: owner_id, LABEL_SANDBOX: sandbox_id},
                mem_limit=self.memory_bytes,
                memswap_limit=self.memory_bytes,
                nano_cpus=self.nano_cpus,
                pids_limit=self.pids_max,
                init=True,
                cap_drop=["ALL"],  # the server runs as an unprivileged user and needs none
                security_opt=["no-new-privileges"],
                network_mode=self._network_mode(),
                ports={f"{self.port}/tcp": ("127.0.0.1", None)},
            )
        except (APIError, DockerException) as exc:
            raise Unavailable(f"the sandbox container could not start: {exc}") from None
        try:
            endpoint = self._published_endpoint(container)
            handle = SandboxHandle(
                backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=secret, ref=container.id
            )
            deadline = time.monotonic() + self.start_timeout_seconds
            if not server.wait_healthy(handle, deadline, alive=lambda: self._running(container.id)):
                logs = container.logs(tail=20).decode(errors="replace")
                raise Unavailable(f"the sandbox container did not become healthy: {logs[-600:]}")
        except BaseException:
            self._remove(container.id)
            raise
        return handle

    def _published_endpoint(self, container: Any) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            container.reload()
            bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{self.port}/tcp")
            if bindings:
                return f"http://127.0.0.1:{bindings[0]['HostPort']}"
            time.sleep(0.05)
        raise Unavailable("the sandbox container's port was not published")

    def _running(self, container_id: str) -> bool:
        try:
            return bool(self.client.containers.get(container_id).status == "running")
        except NotFound:
            return False
        except (APIError, DockerException):
            return True  # the engine hiccupped; let the health probe decide

    def healthy(self, handle: SandboxHandle) -> bool:
        return self._running(handle.ref) and server.health(handle) is not None

    def release(self, handle: SandboxHandle) -> None:
        self._remove(handle.ref)

    def _remove(self, container_id: str) -> None:
        try:
            self.client.containers.get(container_id).remove(force=True)
        except NotFound:
            pass
        except (APIError, DockerException):
            pass

    def release_all(self) -> None:
        """Remove every container this backend labelled (test teardown, local stack shutdown)."""
        for container in self.client.containers.list(all=True, filters={"label": LABEL_SANDBOX}):
            self._remove(container.id)
