"""The clock: Celery Beat's system periodic tasks (dispatch every 1 s, reap every 30 s, prune at 04:00 UTC)."""

from django.db import migrations

from jobs.engine.clock import install_system_tasks, uninstall_system_tasks


def install(apps, schema_editor):
    install_system_tasks(apps)


def uninstall(apps, schema_editor):
    uninstall_system_tasks(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("jobs", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
