from django.apps import AppConfig


class HistoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "history"
    verbose_name = "Run history"

    def ready(self) -> None:
        from history import rollups  # noqa: F401  (registers SQLite's hourglass_hist_add on each connection)
