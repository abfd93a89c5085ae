from django.db import migrations


def repair(apps, schema_editor):
    from jobs.repair import repair_stored_text

    repair_stored_text(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Rows written before NUL and lone surrogates were refused: mend them so no page fails to render."""

    dependencies = [
        ("jobs", "0003_auditentry"),
        ("history", "0001_initial"),
    ]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
