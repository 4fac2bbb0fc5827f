"""The Celery application, found by ``celery -A config``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("causerie")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
