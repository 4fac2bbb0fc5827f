"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.heap import server_collector_setup  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from crm.realtime_origin import BrowserOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origins checked against ALLOWED_HOSTS; clients sending none are not browsers.
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

# Everything loaded so far lives as long as the process: out of the collector's passes.
server_collector_setup()
