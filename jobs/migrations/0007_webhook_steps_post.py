"""Webhook steps always POST the run's summary (jobs.engine.notify): stored ones that read GET, or
carried a body, now say what they send."""

from django.db import migrations

WEBHOOK_METHOD = "POST"


def webhooks_say_post(apps, schema_editor):
    JobStep = apps.get_model("jobs", "JobStep")
    for step in JobStep.objects.filter(kind="webhook").iterator():
        config = dict(step.config or {})
        if config.get("method") == WEBHOOK_METHOD and "body" not in config:
            continue
        config["method"] = WEBHOOK_METHOD
        config.pop("body", None)
        JobStep.objects.filter(pk=step.pk).update(config=config)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0006_merge")]

    operations = [migrations.RunPython(webhooks_say_post, migrations.RunPython.noop)]
