from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Brand accounts and platform adapters"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (sends queued replies)
