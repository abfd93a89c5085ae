from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # The engine's anomaly warnings (a run that succeeded but is unlike its job's recent runs)
        # alert the rules subscribed to `warning`: the one place the two are joined.
        from alerts.events import on_run_warnings
        from jobs.engine import anomaly

        anomaly.connect(on_run_warnings)
