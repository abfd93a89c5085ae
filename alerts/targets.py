"""Apprise URLs: what kind each is, how it is shown, and where a delivery may connect.

A delivery reaches only what a job's request could reach (jobs.engine.ssrf.TargetPolicy), and only
the service its URL names:
- every connection a notification opens (Apprise sends HTTP through `requests`, mail through
  `smtplib`) is resolved here, each address checked against the policy, and the socket opened to
  the checked address, so a DNS answer cannot change between the check and the connect;
- an HTTP connection must go to one of the plugin's own service hosts (its URL constants, such as
  Slack's hooks.slack.com or PagerDuty's events.pagerduty.com) or, when the plugin takes a host
  from the URL (`{host}` in its templates: json://, form://, xml://, ntfy://, gotify:// ...), to
  that host. The generic webhook kinds therefore reach their URL's host only, through the policy.

The checks hold for the thread that set them up (`guarded`) and nowhere else, so other code in the
process that uses requests or smtplib is untouched.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import apprise
from urllib3.util import connection as urllib3_connection

from jobs.engine.ssrf import BlockedError, TargetPolicy, parse_ip_literal
from jobs.redact import REDACTED

GENERIC_KINDS = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
# Documentation links every plugin carries; never a place a notification goes.
_NOT_TARGETS = frozenset({"service_url", "setup_url"})
_URL_RE = re.compile(r"^https?://([^/:?#]+)", re.IGNORECASE)
_MAX_URL = 2000


def kind_of(url: str) -> str:
    return urlsplit(url.strip()).scheme.lower() if "://" in url else ""


def redacted_url(kind: str) -> str:
    """How a channel's URL is shown anywhere: its kind only."""
    return f"{kind}://{REDACTED}" if kind else REDACTED


def instantiate(url: str) -> Any:
    """The Apprise plugin for `url`; ValueError saying what is wrong when there is none."""
    url = url.strip()
    if not url or len(url) > _MAX_URL:
        raise ValueError(
            f"Give an Apprise URL of at most {_MAX_URL} characters, such as slack://… or json://host/path."
        )
    kind = kind_of(url)
    if not kind:
        raise ValueError(
            "An Apprise URL starts with its service, such as slack://, workflows://, json:// or mailto://."
        )
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise ValueError(f"Apprise does not understand this {kind}:// URL (unknown service, or a part is missing).")
    return plugin


def _hosts_in(value: Any, found: set[str], depth: int = 0) -> None:
    if isinstance(value, str):
        match = _URL_RE.match(value)
        if match:
            found.add(match.group(1).lower())
    elif isinstance(value, dict) and depth < 2:
        for item in value.values():
            _hosts_in(item, found, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset) and depth < 2:
        for item in value:
            _hosts_in(item, found, depth + 1)


def service_hosts(plugin: Any) -> frozenset[str]:
    """The hosts a plugin's own code sends to: the http(s) URL constants of its class and module.

    A host with a placeholder (`{region}.api.example.com`) stands for any name in its place.
    """
    found: set[str] = set()
    for klass in type(plugin).__mro__:
        if klass.__module__.startswith("apprise.plugins.") and klass.__name__ != "NotifyBase":
            for name, value in vars(klass).items():
                if name not in _NOT_TARGETS and not name.startswith("__"):
                    _hosts_in(value, found)
    module = sys.modules.get(type(plugin).__module__)
    for name, value in vars(module).items() if module else ():
        if not name.startswith("__"):
            _hosts_in(value, found)
    return frozenset(found)


def takes_host(plugin: Any) -> bool:
    return any("{host}" in template for template in getattr(plugin, "templates", ()) or ())


def allowed_hosts(plugin: Any) -> frozenset[str]:
    hosts = set(service_hosts(plugin))
    if takes_host(plugin) and getattr(plugin, "host", None):
        hosts.add(str(plugin.host).lower().strip("[]").rstrip("."))
    return frozenset(hosts)


def _host_matches(host: str, patterns: frozenset[str]) -> bool:
    host = host.lower().strip("[]").rstrip(".")
    for pattern in patterns:
        if "{" in pattern:
            regex = re.escape(pattern)
            regex = re.sub(r"\\\{[^}]*\\\}", r"[a-z0-9.-]+", regex)
            if re.fullmatch(regex, host):
                return True
        elif host == pattern:
            return True
    return False


@dataclass
class Guard:
    """The checks for one delivery: the policy for every address, and the service's hosts for HTTP."""

    policy: TargetPolicy
    kind: str
    http_hosts: frozenset[str] | None  # None: any host (mail: the SMTP server the URL or Apprise names)
    blocked: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> BlockedError:
        self.blocked.append(reason)
        return BlockedError(reason)

    def check_service_host(self, host: str) -> None:
        if self.http_hosts is not None and not _host_matches(host, self.http_hosts):
            raise self.refuse(f"Blocked: {host} is not a host of the {self.kind}:// service")

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be reached (all of them, or an error naming the first bad one)."""
        literal = parse_ip_literal(host)
        if literal is not None:
            try:
                self.policy.check_address(literal, host)
            except BlockedError as exc:
                raise self.refuse(exc.reason) from None
            return [str(literal)]
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in answers))
        if not self.policy.host_name_allowed(host):
            for address in addresses:
                ip = parse_ip_literal(address.split("%")[0])
                if ip is None:
                    continue
                try:
                    self.policy.check_address(ip, host)
                except BlockedError as exc:
                    raise self.refuse(exc.reason) from None
        return addresses


_state = threading.local()


def current_guard() -> Guard | None:
    return getattr(_state, "guard", None)


@contextlib.contextmanager
def guarded(guard: Guard) -> Iterator[Guard]:
    _state.guard = guard
    try:
        yield guard
    finally:
        _state.guard = None


def _connect_checked(guard: Guard, host: str, port: int, connect: Any) -> Any:
    last: OSError | None = None
    for address in guard.addresses(host, port):
        try:
            return connect(address)
        except OSError as exc:
            last = exc
    raise last or OSError(f"{host} has no address")


_urllib3_create_connection = urllib3_connection.create_connection
_smtp_get_socket = smtplib.SMTP._get_socket  # type: ignore[attr-defined]  # private, not in typeshed's smtplib


def _guarded_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
    guard = current_guard()
    if guard is None:
        return _urllib3_create_connection(address, *args, **kwargs)
    host, port = address
    guard.check_service_host(host)
    return _connect_checked(guard, host, port, lambda ip: _urllib3_create_connection((ip, port), *args, **kwargs))


def _guarded_smtp_socket(self: smtplib.SMTP, host: str, port: int, timeout: Any) -> Any:
    guard = current_guard()
    if guard is None:
        return _smtp_get_socket(self, host, port, timeout)
    # SMTP_SSL wraps the socket with server_hostname=self._host afterwards, so TLS still checks the name.
    return _connect_checked(guard, host, port, lambda ip: _smtp_get_socket(self, ip, port, timeout))


urllib3_connection.create_connection = _guarded_create_connection
smtplib.SMTP._get_socket = _guarded_smtp_socket  # type: ignore[attr-defined]  # private, not in typeshed's smtplib


def guard_for(plugin: Any, kind: str, policy: TargetPolicy | None = None) -> Guard:
    policy = policy or TargetPolicy.from_settings()
    is_mail = hasattr(plugin, "smtp_host")
    return Guard(policy=policy, kind=kind, http_hosts=None if is_mail else allowed_hosts(plugin))


class _ThreadLog(logging.Handler):
    """Apprise says why a send failed only in its log: keep each delivering thread's warnings apart."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: dict[int, list[str]] = {}
        self.lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_records:
            lines = self.records.get(record.thread or 0)
            if lines is not None and len(lines) < 20:
                lines.append(record.getMessage())

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[str]]:
        ident = threading.get_ident()
        lines: list[str] = []
        with self.lock_records:
            self.records[ident] = lines
        try:
            yield lines
        finally:
            with self.lock_records:
                self.records.pop(ident, None)


apprise_log = _ThreadLog()
# Apprise's own records can carry a URL's tokens (an exception's text names the URL it called): they stop here,
# and alerts.delivery logs each failure itself, with the URL's secrets redacted.
logging.getLogger("apprise").addHandler(apprise_log)
logging.getLogger("apprise").propagate = False


def scrub(text: str, url: str) -> str:
    """`text` with the URL's secret parts (credentials, path tokens, query values) replaced by [redacted]."""
    parts = urlsplit(url.strip())
    secrets = [parts.netloc.rpartition("@")[0], *parts.path.split("/"), *re.split(r"[&=]", parts.query)]
    if not takes_host_kind(parts.scheme.lower()):
        secrets.append(parts.netloc.rpartition("@")[2].split(":")[0])  # vendor URLs carry tokens where a host goes
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        for piece in {secret, *secret.split(":")}:
            if len(piece) >= 4:
                text = text.replace(piece, REDACTED)
    return text.replace(url, redacted_url(parts.scheme.lower()))


def takes_host_kind(kind: str) -> bool:
    return kind in GENERIC_KINDS or kind in {"mailto", "mailtos", "ntfy", "ntfys", "gotify", "gotifys"}
