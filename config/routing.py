"""Websocket routes, served by ``config.asgi``."""

from django.urls import path

from conversations.consumers import InboxConsumer

websocket_urlpatterns: list = [
    path("ws/v1/inbox/", InboxConsumer.as_asgi()),
]
