import pytest
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from config.celery import app
from jobs.engine.clock import install_system_tasks, uninstall_system_tasks

pytestmark = pytest.mark.django_db


def schedules() -> dict[str, tuple]:
    return {
        task.name: (task.task, str(task.interval) if task.interval else None, task.crontab and str(task.crontab))
        for task in PeriodicTask.objects.select_related("interval", "crontab")
    }


def test_the_migration_installs_the_system_tasks_and_no_task_per_job():
    assert schedules() == {
        "dispatch": ("hourglass.dispatch", "every second", None),
        "reap": ("hourglass.reap", "every 30 seconds", None),
        "prune": ("hourglass.prune", None, "0 4 * * * (m/h/dM/MY/d) UTC"),
        "alerts_sweep": ("hourglass.alerts_sweep", "every 10 seconds", None),
    }


def test_each_system_task_names_a_registered_task():
    import alerts.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
    import jobs.tasks  # noqa: F401

    assert {task.task for task in PeriodicTask.objects.all()} <= set(app.tasks)


def test_installing_again_changes_nothing_but_the_overrides():
    install_system_tasks(every={"reap": 2})
    install_system_tasks(every={"reap": 2})
    assert PeriodicTask.objects.count() == 4
    assert schedules()["reap"][1] == "every 2 seconds"
    assert PeriodicTasks.last_change() is not None  # beat reloads its schedule


def test_it_uninstalls():
    uninstall_system_tasks()
    assert PeriodicTask.objects.count() == 0
