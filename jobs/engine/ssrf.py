"""SSRF guard: outbound requests reach only global addresses, unless a setting allows more.

Three checks, so that no socket is ever opened to a disallowed address:
- `check_url` rejects literal IPs (in any form `inet_aton` accepts, e.g. `0x7f.1`, `2130706433`,
  `[::ffff:127.0.0.1]`) before a request is made; aiohttp never passes literals to a resolver;
- `ConnectionGuard.resolver` rejects a host name whose DNS answer holds a non-global address;
- `ConnectionGuard.socket_factory` re-checks the address right before `connect()`, so a path we
  did not think of still cannot reach a private network.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from django.conf import settings
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# NAT64 prefixes embed an IPv4 address in the low 32 bits; a NAT64 gateway would forward there.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class BlockedError(OSError):
    """The target is not allowed. An OSError, so aiohttp carries it out of its connector."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes when it is an IP literal, in any form the OS accepts."""
    host = host.strip().strip("[]").rstrip(".")
    if not host:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton accepts the legacy forms getaddrinfo would too: 127.1, 0x7f.1, 017700000001, 2130706433.
    if ":" in host or not all(part and part[0].isdigit() for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_global_reason(ip: IPAddress) -> str | None:
    """Why an address is not a public unicast address, or None when it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = non_global_reason(embedded)
            return f"{reason} (embedded in {ip})" if reason else None
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified or ip in _THIS_NETWORK, "an unspecified ('this network') address"),
        (ip.is_link_local, "a link-local address"),
        (ip in _CGNAT, "a carrier-grade NAT (100.64.0.0/10) address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    for matched, reason in checks:
        if matched:
            return reason
    return None


@dataclass(frozen=True)
class TargetPolicy:
    """What outbound requests may reach, besides public addresses."""

    allow_loopback: bool = False
    networks: tuple[IPNetwork, ...] = ()
    # Exact names, and suffixes (from entries like ".corp.example" or "*.corp.example").
    hostnames: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls) -> TargetPolicy:
        return cls.from_entries(
            getattr(settings, "HOURGLASS_ALLOWED_TARGETS", []) or [],
            allow_loopback=bool(getattr(settings, "HOURGLASS_ALLOW_LOOPBACK", False)),
        )

    @classmethod
    def from_entries(cls, entries: list[str] | tuple[str, ...], *, allow_loopback: bool) -> TargetPolicy:
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith(("*.", ".")):
                suffixes.append("." + entry.lstrip("*."))
            else:
                names.add(entry)
        return cls(allow_loopback, tuple(networks), frozenset(names), tuple(suffixes))

    def host_name_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hostnames or name.endswith(self.suffixes)

    def address_allowed(self, ip: IPAddress) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # the socket reaches the IPv4 host, so judge that one
        if any(ip.version == net.version and ip in net for net in self.networks):
            return True
        if self.allow_loopback and ip.is_loopback:
            return True
        return non_global_reason(ip) is None

    def check_address(self, ip: IPAddress, host: str | None = None) -> None:
        if self.address_allowed(ip):
            return
        reason = non_global_reason(ip) or "not allowed"
        where = f"{host} resolves to {ip}" if host and host != str(ip) else str(ip)
        raise BlockedError(f"Blocked: {where}, {reason}")

    def check_url(self, url: URL) -> None:
        """Reject a URL before any connection: wrong scheme, no host, or a disallowed literal IP."""
        reason = _url_verdict(self, url.scheme, url.raw_host or "")
        if reason is not None:
            raise BlockedError(reason)

    def _verdict(self, scheme: str, host: str) -> str | None:
        if scheme not in ("http", "https"):
            return f"Blocked: scheme {scheme!r} is not allowed, only http and https"
        if not host:
            return "Blocked: the URL has no host"
        ip = parse_ip_literal(host)
        if ip is not None and not self.host_name_allowed(host):
            try:
                self.check_address(ip)
            except BlockedError as exc:
                return exc.reason
        return None


@functools.lru_cache(maxsize=4096)
def _url_verdict(policy: TargetPolicy, scheme: str, host: str) -> str | None:
    """A pure function of the (immutable) policy and the URL's scheme and host: checked once per host."""
    return policy._verdict(scheme, host)


class _GuardedResolver(AbstractResolver):
    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        self._guard.check_resolved(host, [r["host"] for r in results])
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


@dataclass
class ConnectionGuard:
    """Per-session guard: hand `resolver` and `socket_factory` to a TCPConnector."""

    policy: TargetPolicy
    # Addresses an allow-listed host name resolved to; the socket factory lets these through.
    approved: set[str] = field(default_factory=set)
    resolver: AbstractResolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = _GuardedResolver(self)

    def check_resolved(self, host: str, addresses: list[str]) -> None:
        # One bad address rejects the name: mixing public and private answers is a rebinding trick.
        if self.policy.host_name_allowed(host):
            self.approved.update(addresses)
            return
        for address in addresses:
            self.policy.check_address(ipaddress.ip_address(address.split("%")[0]), host)

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, address = addr_info
        host = address[0]
        if host not in self.approved:
            self.policy.check_address(ipaddress.ip_address(host.split("%")[0]))
        return socket.socket(family=family, type=type_, proto=proto)


def blocked_reason(exc: BaseException) -> str | None:
    """The guard's reason when `exc` (or what it wraps) is a BlockedError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BlockedError):
            return current.reason
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return None
