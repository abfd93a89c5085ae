from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self) -> None:
        from jobs import (
            audit,  # noqa: F401  (connects the membership signals of the audit log)
            key_cache,  # noqa: F401  (connects the signals that invalidate cached keys)
        )
