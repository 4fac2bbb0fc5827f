"""The product's ASGI application plus a bare websocket consumer (bench only).

The fan-out baseline: a consumer that joins one channel-layer group and writes what the
group sends it, nothing else, served by the same uvicorn process as the product's inbox.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from config.heap import server_collector_setup  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from crm.realtime_origin import BrowserOriginValidator  # noqa: E402

BARE_GROUP = "bench.fanout.bare"
BARE_PATH = "bench/ws/bare/"


class BareConsumer(AsyncWebsocketConsumer):
    """Joins ``BARE_GROUP`` and forwards each ``bench.event`` message's text as is.

    Like the inbox's consumer, it skips Channels' per-message hop to the sync thread
    (closing stale database connections, which it never opens), so that the baseline is
    the transport alone: channels-redis and uvicorn's websocket writes.
    """

    async def dispatch(self, message: dict) -> None:
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        await self.accept()
        await self.channel_layer.group_add(BARE_GROUP, self.channel_name)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(BARE_GROUP, self.channel_name)

    async def bench_event(self, message: dict) -> None:
        await self.send(text_data=message["text"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(
            URLRouter([path(BARE_PATH, BareConsumer.as_asgi()), *websocket_urlpatterns])
        ),
    }
)

# As the product's entry point (config.asgi) does.
server_collector_setup()
