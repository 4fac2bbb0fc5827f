from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Workspaces and the people who work in them"

    def ready(self) -> None:
        from .process_cache import connect_signals

        connect_signals()
        from .db import connect_signals as db_connect_signals

        db_connect_signals()
        from . import realtime  # noqa: F401  (connects the event-log publisher)
        from .webhooks import dispatch, tasks  # noqa: F401  (the webhook dispatcher, its tasks)
