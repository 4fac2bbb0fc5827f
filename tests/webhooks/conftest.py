"""Fixtures of the webhook tests: the emulator's sinks as receivers, over real HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from crm.models import WebhookSubscription
from crm.webhooks import delivery, ssrf
from crm.webhooks.services import webhook_create
from integrations.emulator import EmulatorServer, start_in_thread
from integrations.emulator.client import EmulatorClient

_names = itertools.count()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server, _ = start_in_thread("127.0.0.1", 0)
    yield server
    server.close()


@pytest.fixture
def emu(emulator_server: EmulatorServer) -> Iterator[EmulatorClient]:
    client = EmulatorClient(emulator_server.base_url)
    yield client
    client.close()


class Sink:
    """One named capture endpoint of the emulator, standing in for a receiver."""

    def __init__(self, emu: EmulatorClient, name: str) -> None:
        self.emu = emu
        self.name = name
        self.url = emu.sink_url(name)

    def requests(self) -> list[dict]:
        received = self.emu.sink_requests(self.name)
        for item in received:
            item["headers"] = {k.lower(): v for k, v in item["headers"].items()}
        return received

    def answer(self, status: int) -> None:
        self.emu.set_sink_status(self.name, status)


@pytest.fixture
def make_sink(emu: EmulatorClient):
    def make() -> Sink:
        return Sink(emu, f"wh-{next(_names)}")

    return make


@pytest.fixture
def sink(make_sink) -> Sink:
    return make_sink()


class Clock:
    """The webhook delivery clock, moved by hand: nothing sleeps for a backoff."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta) -> datetime:
        self.now = self.now + delta
        return self.now

    def to(self, when: datetime) -> datetime:
        self.now = when
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(delivery, "clock", fake)
    return fake


@pytest.fixture
def fake_dns(monkeypatch):
    """``fake_dns({"hooks.example.test": ["127.0.0.1"]})``: names answered by the test."""
    answers: dict[str, list[str]] = {}
    real = ssrf.resolver

    def resolve(host, port):
        if host in answers:
            import ipaddress

            return [ipaddress.ip_address(a) for a in answers[host]]
        return real(host, port)

    monkeypatch.setattr(ssrf, "resolver", resolve)

    def set_answers(mapping: dict[str, list[str]]) -> dict[str, list[str]]:
        answers.update(mapping)
        return answers

    return set_answers


@pytest.fixture
def subscribe(ws):
    """``subscribe(url, events=...)`` -> (subscription, secret), created by ws's owner."""

    def make(url: str, **kwargs) -> tuple[WebhookSubscription, str]:
        created = webhook_create(actor=ws.owner_actor, url=url, **kwargs)
        return created.subscription, created.secret

    return make
