"""The clock's alert sweep (every 10 s): due retries and half-sent deliveries are published again."""

from django.db import migrations

from jobs.engine.clock import install_system_tasks


def install(apps, schema_editor):
    install_system_tasks(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("jobs", "0002_system_periodic_tasks"),
        ("alerts", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
