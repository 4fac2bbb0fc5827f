from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "The agent console: the inbox in a browser, on the public API"
