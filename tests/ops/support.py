"""Reading /metrics the way Prometheus does: the text format parsed into {(name, labels): value}."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.test import Client
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(families: Iterable[Metric]) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def scrape(client: Client, **headers: str) -> Samples:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return samples_of(text_string_to_metric_families(response.content.decode()))


def this_process(folder: str | Path | None = None) -> Samples:
    """Only what this test process recorded: other processes (another pytest run, an e2e worker)
    may write to the same multiprocess folder while a test runs."""
    folder = folder or settings.PROMETHEUS_MULTIPROC_DIR
    files = glob.glob(os.path.join(folder, f"*_{os.getpid()}.db"))
    return samples_of(MultiProcessCollector.merge(files, accumulate=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)
