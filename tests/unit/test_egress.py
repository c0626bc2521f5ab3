"""The sandbox egress block list and its allow-list exceptions, decided and written as iptables rules."""

from __future__ import annotations

import ipaddress

import pytest

from riadex.adapters.sandbox import egress
from riadex.adapters.sandbox.egress import EgressError, policy

BLOCKED = [
    "10.0.0.1",
    "10.255.255.53",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # EC2 metadata
    "169.254.170.2",  # ECS task metadata
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.1.2.3",
    "0.0.0.0",
    "224.0.0.251",
    "255.255.255.255",
    "192.0.0.192",
    "10.0.2.2",  # slirp's gateway: the host
    "::1",
    "fd00:ec2::254",  # EC2 metadata over IPv6
    "fc00::1",
    "fe80::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "64:ff9b::a00:1",
]
PUBLIC = ["1.1.1.1", "8.8.8.8", "198.51.100.2", "203.0.113.9", "172.15.255.255", "172.32.0.1", "100.63.0.1",
          "100.128.0.1", "11.0.0.1", "2606:4700::1111", "2001:db8::5"]  # fmt: skip


@pytest.mark.parametrize("address", BLOCKED)
def test_private_loopback_link_local_and_the_host_are_blocked(address: str) -> None:
    rules = policy()
    assert not rules.allows(address, 80)
    assert not rules.allows(address, 443)
    assert not rules.allows(address, 53, "udp") or address == egress.SLIRP_DNS


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_open_on_every_port(address: str) -> None:
    rules = policy()
    assert rules.allows(address, 80)
    assert rules.allows(address, 22)
    assert rules.allows(address, 53, "udp")


def test_dns_goes_only_to_the_uplinks_resolver() -> None:
    rules = policy()
    assert rules.allows(egress.SLIRP_DNS, 53, "udp")
    assert rules.allows(egress.SLIRP_DNS, 53, "tcp")
    assert not rules.allows(egress.SLIRP_DNS, 80)
    assert not rules.allows("10.255.255.53", 53, "udp")


def test_the_hosts_own_addresses_are_blocked_even_when_public() -> None:
    rules = policy(host_addresses=["203.0.113.7", "2001:db8::7", "127.0.0.1", "fe80::1%eth0"])
    assert not rules.allows("203.0.113.7", 8000)
    assert not rules.allows("2001:db8::7", 8000)
    assert rules.allows("203.0.113.8", 8000)


def test_allow_hosts_opens_exactly_what_it_names() -> None:
    rules = policy("10.203.0.2:8081, 192.168.7.0/24, host:5432, [fd00::5]:443")
    assert rules.allows("10.203.0.2", 8081)
    assert not rules.allows("10.203.0.2", 8082)
    assert not rules.allows("10.203.0.2", 8081, "udp")
    assert not rules.allows("10.203.0.3", 8081)
    assert rules.allows("192.168.7.99", 22)
    assert rules.allows("192.168.7.99", 53, "udp")
    assert not rules.allows("192.168.8.1", 22)
    assert rules.allows(egress.SLIRP_GATEWAY, 5432)
    assert not rules.allows(egress.SLIRP_GATEWAY, 8000)
    assert rules.allows("fd00::5", 443)
    assert not rules.allows("fd00::6", 443)


@pytest.mark.parametrize(
    "raw",
    ["host", "host:0", "host:70000", "example.com:80", "10.0.0.0/33", "[fd00::5", "[fd00::5]x", "1.2.3.4:x"],
)
def test_malformed_allow_entries_are_refused(raw: str) -> None:
    with pytest.raises(EgressError):
        policy(raw)


def _simulate(rules_text: str, address: str, port: int, protocol: str) -> bool:
    """Walk the generated OUTPUT chain as the kernel does (first match wins, default ACCEPT)."""
    ip = ipaddress.ip_address(address)
    for line in rules_text.splitlines():
        if not line.startswith("-A OUTPUT"):
            continue
        words = line.split()
        opts = dict(zip(words[2::2], words[3::2], strict=False))
        if opts.get("-o") == "lo":
            continue  # the test addresses never leave through loopback
        if "-d" in opts and ip not in ipaddress.ip_network(opts["-d"]):
            continue
        if "-p" in opts and opts["-p"] != protocol:
            continue
        if "--dport" in opts and int(opts["--dport"]) != port:
            continue
        return opts["-j"] == "ACCEPT"
    return True


def test_the_iptables_rules_say_what_the_policy_decides() -> None:
    rules = policy("10.203.0.2:8081,192.168.7.0/24,host:5432,[fd00::5]:443", host_addresses=["203.0.113.7"])
    v4, v6 = rules.iptables_rules(4), rules.iptables_rules(6)
    assert v4.startswith("*filter")
    assert v4.rstrip().endswith("COMMIT")
    assert "-A OUTPUT -o lo -j ACCEPT" in v4
    candidates = [*BLOCKED, *PUBLIC, "10.203.0.2", "192.168.7.99", egress.SLIRP_GATEWAY, egress.SLIRP_DNS,
                  "203.0.113.7", "fd00::5"]  # fmt: skip
    for address in candidates:
        text = v4 if ipaddress.ip_address(address).version == 4 else v6
        for port, protocol in (
            (53, "udp"),
            (53, "tcp"),
            (80, "tcp"),
            (443, "tcp"),
            (5432, "tcp"),
            (8081, "tcp"),
        ):
            assert _simulate(text, address, port, protocol) == rules.allows(address, port, protocol), (
                address,
                port,
                protocol,
            )
