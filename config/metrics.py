"""GET /metrics: the Prometheus exposition of every process's instruments plus the database gauges.

Who may scrape: with HOURGLASS_METRICS_TOKEN set, whoever sends `Authorization: Bearer <token>`;
without it, only clients on loopback or private addresses (REMOTE_ADDR). Behind a reverse proxy
REMOTE_ADDR is the proxy, so set a token there.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from jobs.metrics import DatabaseCollector


def _from_private_network(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is judged as 10.0.0.1
    return ip.is_loopback or ip.is_private


def refusal(request: HttpRequest) -> str | None:
    """Why this request may not read the metrics, or None when it may."""
    token = getattr(settings, "HOURGLASS_METRICS_TOKEN", "")
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return None
        return "Metrics need an Authorization: Bearer header with the metrics token.\n"
    if _from_private_network(request.META.get("REMOTE_ADDR", "")):
        return None
    return "Metrics are served to private networks only; set HOURGLASS_METRICS_TOKEN to scrape from elsewhere.\n"


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    reason = refusal(request)
    if reason is not None:
        return HttpResponse(reason, status=403, content_type="text/plain; charset=utf-8")
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    registry.register(DatabaseCollector())
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
