"""What a sandbox may reach on the network: the rules every backend applies, in one place.

`SANDBOX_NETWORK=internet` (the default) means public addresses and DNS, and nothing of the host:
no loopback, no private range, no link-local (the cloud metadata endpoints), no shared address space,
no other sandbox. `SANDBOX_ALLOW_HOSTS` opens exceptions the user asks for (a LAN service, a service
on the host's own loopback). This module decides (`EgressPolicy.allows`) and writes the same decision
as iptables rules (`iptables_rules`) for the process and docker backends; the Fargate task gets the
equivalent as security-group egress in template.yaml.

`SANDBOX_ALLOW_HOSTS` is a comma-separated list of entries:
- `host:PORT` — a TCP port on the host's loopback (process backend: through slirp4netns' gateway,
  10.0.2.2, which is then the only host address open, and only on those ports);
- `ADDRESS[:PORT]` or `CIDR[:PORT]` — an otherwise blocked address or range, any port or one TCP port
  (IPv6 addresses in brackets: `[fd00::5]:443`).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_V4: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (carrier NAT, some clouds' internal ranges)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local: 169.254.169.254 and the ECS/EKS metadata endpoints
    "172.16.0.0/12",  # private (the docker bridge among others)
    "192.0.0.0/24",  # IETF protocol assignments (192.0.0.192 is Oracle's metadata)
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
)
BLOCKED_V6: tuple[str, ...] = (
    "::/128",
    "::1/128",  # loopback
    "::ffff:0:0/96",  # IPv4-mapped: the v4 rules must not be bypassed through v6
    "64:ff9b::/96",  # NAT64 to v4 (same reason)
    "fc00::/7",  # unique local (fd00:ec2::254 is the EC2 metadata endpoint over v6)
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)

SLIRP_GATEWAY = "10.0.2.2"
"""slirp4netns' host side: the host's loopback when host loopback is enabled."""
SLIRP_DNS = "10.0.2.3"
"""slirp4netns' DNS forwarder (to the host's resolvers)."""
HOST_ALIAS = "host"


class EgressError(ValueError):
    """A malformed SANDBOX_ALLOW_HOSTS entry."""


@dataclass(frozen=True)
class Allowed:
    network: IPNetwork
    port: int | None = None
    """None: every port and protocol; else this TCP port only."""


@dataclass(frozen=True)
class EgressPolicy:
    allowed: tuple[Allowed, ...] = ()
    host_ports: tuple[int, ...] = ()
    """TCP ports of the host's loopback the user opened (`host:PORT`)."""
    dns: tuple[IPAddress, ...] = field(default_factory=lambda: (ipaddress.ip_address(SLIRP_DNS),))
    host_addresses: tuple[IPAddress, ...] = ()
    """The host's own addresses (every interface): blocked too, whatever range they are in, so a
    service the host binds to 0.0.0.0 is not reachable through its public address."""

    @property
    def blocked(self) -> tuple[IPNetwork, ...]:
        static = tuple(ipaddress.ip_network(n) for n in (*BLOCKED_V4, *BLOCKED_V6))
        own = tuple(
            ipaddress.ip_network(a)
            for a in self.host_addresses
            if not any(a.version == net.version and a in net for net in static)
        )
        return static + own

    def allows(self, address: str, port: int, protocol: str = "tcp") -> bool:
        """The decision the generated rules implement, for one destination."""
        ip = ipaddress.ip_address(address)
        if ip in self.dns and port == 53 and protocol in ("tcp", "udp"):
            return True
        if str(ip) == SLIRP_GATEWAY and protocol == "tcp" and port in self.host_ports:
            return True
        for entry in self.allowed:
            matches = ip.version == entry.network.version and ip in entry.network
            if matches and (entry.port is None or (entry.port == port and protocol == "tcp")):
                return True
        return not any(ip.version == net.version and ip in net for net in self.blocked)

    def iptables_rules(self, version: int = 4, established: bool = False) -> str:
        """An iptables-restore (or ip6tables-restore) input: the OUTPUT chain of the sandbox's own
        network namespace. Loopback inside the namespace stays open (the sandbox's own services);
        blocked TCP gets a reset and the rest an ICMP error, so a client fails at once, not by timeout.
        `established`: replies on connections that came in (a container's published tool port) pass."""
        reject = "icmp-admin-prohibited" if version == 4 else "adm-prohibited"
        lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
        lines.append("-A OUTPUT -o lo -j ACCEPT")
        if established:
            lines.append("-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
        for dns in self.dns:
            if dns.version == version:
                for proto in ("udp", "tcp"):
                    lines.append(f"-A OUTPUT -d {dns} -p {proto} --dport 53 -j ACCEPT")
        if version == 4:
            for port in self.host_ports:
                lines.append(f"-A OUTPUT -d {SLIRP_GATEWAY} -p tcp --dport {port} -j ACCEPT")
        for entry in self.allowed:
            if entry.network.version != version:
                continue
            if entry.port is None:
                lines.append(f"-A OUTPUT -d {entry.network} -j ACCEPT")
            else:
                lines.append(f"-A OUTPUT -d {entry.network} -p tcp --dport {entry.port} -j ACCEPT")
        for network in self.blocked:
            if network.version != version:
                continue
            lines.append(f"-A OUTPUT -d {network} -p tcp -j REJECT --reject-with tcp-reset")
            lines.append(f"-A OUTPUT -d {network} -j REJECT --reject-with {reject}")
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"


def deny_all_rules(version: int = 4) -> str:
    """`none` where the sandbox keeps an interface (a container reached on a published port): nothing
    goes out but replies on connections that came in."""
    reject = "icmp-admin-prohibited" if version == 4 else "adm-prohibited"
    return (
        "\n".join(
            [
                "*filter",
                ":INPUT ACCEPT [0:0]",
                ":FORWARD DROP [0:0]",
                ":OUTPUT ACCEPT [0:0]",
                "-A OUTPUT -o lo -j ACCEPT",
                "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
                f"-A OUTPUT -j REJECT --reject-with {reject}",
                "COMMIT",
            ]
        )
        + "\n"
    )


def parse_allow_hosts(raw: str) -> tuple[tuple[Allowed, ...], tuple[int, ...]]:
    """SANDBOX_ALLOW_HOSTS → (allowed networks, host loopback ports). Raises EgressError."""
    allowed: list[Allowed] = []
    host_ports: list[int] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        target, port = _split_port(item)
        if target.lower() == HOST_ALIAS:
            if port is None:
                raise EgressError(f"SANDBOX_ALLOW_HOSTS: {item!r} needs a port (host:5432)")
            host_ports.append(port)
            continue
        try:
            network = ipaddress.ip_network(target, strict=False)
        except ValueError:
            raise EgressError(
                f"SANDBOX_ALLOW_HOSTS: {item!r} is not host:PORT, an address or a CIDR (names are not "
                "resolved: give the address)"
            ) from None
        allowed.append(Allowed(network=network, port=port))
    return tuple(allowed), tuple(sorted(set(host_ports)))


def _split_port(item: str) -> tuple[str, int | None]:
    if item.startswith("["):
        address, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise EgressError(f"SANDBOX_ALLOW_HOSTS: malformed entry {item!r}")
        return address, _port(rest[1:], item) if rest else None
    if item.count(":") == 1:
        target, _, port = item.partition(":")
        return target, _port(port, item)
    return item, None


def _port(raw: str, item: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise EgressError(f"SANDBOX_ALLOW_HOSTS: bad port in {item!r}")
    return int(raw)


def policy(allow_hosts: str = "", host_addresses: Iterable[str] = ()) -> EgressPolicy:
    allowed, host_ports = parse_allow_hosts(allow_hosts)
    addresses = tuple(ipaddress.ip_address(a.split("%", 1)[0]) for a in host_addresses)
    return EgressPolicy(allowed=allowed, host_ports=host_ports, host_addresses=addresses)


def host_addresses() -> list[str]:
    """This machine's own addresses on every interface of its network namespace (Linux /proc)."""
    found: set[str] = set()
    try:
        with open("/proc/net/fib_trie") as trie:
            lines = trie.read().splitlines()
    except OSError:
        lines = []
    for previous, line in itertools.pairwise(lines):
        if line.strip() == "/32 host LOCAL":
            found.add(previous.strip().split()[-1])
    try:
        with open("/proc/net/if_inet6") as table:
            for row in table:
                raw = row.split()[0]
                found.add(str(ipaddress.ip_address(int(raw, 16))))
    except OSError:
        pass
    return sorted(found)
