"""The `docker` backend: one container per session through the docker SDK, against DOCKER_HOST.

Works with a Docker engine or podman's Docker-compatible API. Each container gets memory,
CPU and pid limits, `init` (tini-like reaping; stops in 0.1 s), no capabilities and no privilege gain,
labels naming its session and owner, and no environment but the tool server's own: the host's
variables never reach it. Networking is slirp4netns on podman (user-space, leaves no host state; the
host's loopback closed unless a `host:PORT` is allowed) with the tool port published on 127.0.0.1 only
(SANDBOX_PUBLISH_HOST: another of the host's own addresses); on a real Docker engine it is the default
bridge, published the same way. The egress rules (egress.py) travel to the image's entry.sh, which
loads them with the one extra capability it needs (NET_ADMIN) and drops it before the tool server
starts; `none` loads rules that let nothing out. Only the secret's SHA-256 reaches the container
(SANDBOX_SECRET_SHA256): `docker inspect` shows nothing anyone could authenticate with.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from riadex.adapters.sandbox import egress
from riadex.adapters.tools import server
from riadex.domain.errors import Unavailable
from riadex.domain.sandboxes import SandboxHandle

BACKEND = "docker"
SERVER_CAPS = ("SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETPCAP")
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
    network: str = "internet"
    """internet | none | host (egress.py; `host` skips the rules and opens the host's loopback)."""
    allow_hosts: str = ""
    publish_host: str = "127.0.0.1"
    """The host address the tool port is published on (and reached at)."""

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
        if self.network_mode == "slirp4netns":
            _, host_ports = egress.parse_allow_hosts(self.allow_hosts)
            loopback = self.network == "host" or bool(host_ports)
            return f"slirp4netns:allow_host_loopback={'true' if loopback else 'false'}"
        return self.network_mode or None

    def _egress_environment(self) -> dict[str, str]:
        if self.network == "host":
            return {}
        if self.network == "none":
            return {
                "SANDBOX_EGRESS_V4": egress.deny_all_rules(4),
                "SANDBOX_EGRESS_V6": egress.deny_all_rules(6),
            }
        rules = egress.policy(self.allow_hosts, egress.host_addresses())
        return {
            "SANDBOX_EGRESS_V4": rules.iptables_rules(4, established=True),
            "SANDBOX_EGRESS_V6": rules.iptables_rules(6, established=True),
        }

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        secret = secrets.token_urlsafe(32)
        rules = self._egress_environment()
        try:
            container = self.client.containers.run(
                self.image,
                detach=True,
                name=f"riadex-{sandbox_id}",
                environment={
                    "SANDBOX_SECRET_SHA256": hashlib.sha256(secret.encode()).hexdigest(),
                    **rules,
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
                cap_drop=["ALL"],
                # entry.sh: NET_ADMIN to load the egress rules, then the server (uid 1001) keeps the rest
                # to run the agent's commands as uid 1000 and hand it its files; the agent gets none.
                cap_add=[*SERVER_CAPS, *(["NET_ADMIN"] if rules else [])],
                security_opt=["no-new-privileges"],
                network_mode=self._network_mode(),
                ports={f"{self.port}/tcp": (self.publish_host, None)},
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
                return f"http://{self.publish_host}:{bindings[0]['HostPort']}"
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
