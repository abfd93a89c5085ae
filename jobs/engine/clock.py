"""The clock: the system periodic tasks that Celery Beat (DatabaseScheduler) runs.

There is no PeriodicTask per job: Beat only ticks the dispatcher, which reads the jobs' own
`next_run_at`. The functions take an app registry so the data migration can call them with
its historical models; they never import the beat models directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.utils import timezone


@dataclass(frozen=True)
class SystemTask:
    name: str
    task: str
    description: str
    every_seconds: int | None = None
    crontab: tuple[str, str] | None = None  # (minute, hour), UTC
    # A tick that waited this long in the queue is dropped: the next one does the same work.
    expire_seconds: int | None = None


SYSTEM_TASKS = (
    SystemTask(
        "dispatch",
        "hourglass.dispatch",
        "Creates the runs of due job slots and publishes them.",
        every_seconds=1,
        expire_seconds=5,
    ),
    SystemTask(
        "reap",
        "hourglass.reap",
        "Ends runs whose worker died (crashed) and republishes unclaimed runs.",
        every_seconds=30,
        expire_seconds=60,
    ),
    SystemTask("prune", "hourglass.prune", "Deletes old runs by each job's retention.", crontab=("0", "4")),
    SystemTask(
        "alerts_sweep",
        "hourglass.alerts_sweep",
        "Publishes alert deliveries due for a retry, and those a stopped worker left half-sent.",
        every_seconds=10,
        expire_seconds=20,
    ),
)


def install_system_tasks(apps: Apps = global_apps, every: dict[str, int] | None = None) -> None:
    """Create or refresh the system tasks; `every` overrides interval seconds by task name."""
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for spec in SYSTEM_TASKS:
        schedule: dict[str, object] = {"interval": None, "crontab": None}
        if spec.crontab is not None:
            minute, hour = spec.crontab
            schedule["crontab"], _ = crontab_schedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
        else:
            seconds = (every or {}).get(spec.name, spec.every_seconds)
            schedule["interval"], _ = interval_schedule.objects.get_or_create(every=seconds, period="seconds")
        periodic_task.objects.update_or_create(
            name=spec.name,
            defaults={
                **schedule,
                "task": spec.task,
                "description": spec.description,
                "expire_seconds": spec.expire_seconds,
                "enabled": True,
            },
        )
    _tell_beat(apps)


def uninstall_system_tasks(apps: Apps = global_apps) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name__in=[spec.name for spec in SYSTEM_TASKS]).delete()
    _tell_beat(apps)


def _tell_beat(apps: Apps) -> None:
    # Beat reloads its schedule when this timestamp moves; the model's save() signal that
    # normally bumps it does not fire for historical models in a migration.
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
