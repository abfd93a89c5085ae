import os

from celery import Celery

from config.broker import register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
register()

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
