"""The baselines' plain Celery task: one task, one blocking HTTP request, nothing recorded.

Loaded into a worker with `celery -A config worker -I bench.baseline_tasks`; stock
django-celery-beat (B1) and one-task-per-request (B2) both fire it.
"""

from __future__ import annotations

import urllib.request

from celery import shared_task

TASK_NAME = "bench.get_url"


@shared_task(name=TASK_NAME)
def get_url(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the bench's loopback target
        response.read()
        return response.status
