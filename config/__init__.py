"""Causerie project configuration: settings, URL routing, ASGI/WSGI entry points, Celery."""

from .celery import app as celery_app

__all__ = ("celery_app",)
