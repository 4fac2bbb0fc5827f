"""Secrets never leave where they belong: not in logs, error bodies, the OpenAPI schema,
the event log, the audit log, nor the pages people browse.

One run creates every kind of secret Causerie holds (API keys, personal tokens and the
password behind one, realtime tickets, webhook subscription secrets before and after a
rotation, every platform's brand account credentials), then makes things fail around them
(a reply whose send fails, a webhook delivery to a dead endpoint, a forged inbound
webhook, bad credentials, validation errors). Everything logged meanwhile, at DEBUG and
up, every response that was not a create's one-time answer, the schema, the event and
audit logs and the console's pages are searched for each secret.
"""

import logging

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from crm.models import Event
from integrations.services.processing import inbound_events_drain
from tests.conftest import client_with

pytestmark = pytest.mark.django_db(transaction=True)

CREDENTIALS = {
    "facebook": (
        "104000000000001",
        {
            "page_access_token": "EAAGsecretpagetoken1234567890",
            "app_secret": "fb-app-secret-0f9e8d7c6b5a",
            "verify_token": "fb-verify-token-4a5b6c7d",
        },
    ),
    "telegram": (
        "7000000001",
        {"bot_token": "7000000001:AAFsecretbottoken0123456789", "secret_token": "tg-secret-98765"},
    ),
    "email": (
        "support@brand.example",
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": 9,
            "smtp_username": "support@brand.example",
            "smtp_password": "smtp-password-secret-5566",
            "inbound_secret": "mail-inbound-secret-7788",
        },
    ),
    "api": (
        "helpdesk",
        {
            "secret": "whsec_c2VjcmV0LWFwaS1jaGFubmVsLWtleS0xMjM0NTY=",
            "callback_url": "http://127.0.0.1:9/callback",
        },
    ),
    "x": (
        "4337869213",
        {
            "consumer_key": "x-consumer-key-1122",
            "consumer_secret": "x-consumer-secret-3344",
            "access_token": "4337869213-x-access-token-5566",
            "access_token_secret": "x-access-token-secret-7788",
        },
    ),
}
PASSWORD = "correct-horse-battery-staple-42"


class Capture(logging.Handler):
    """Every record, formatted with its arguments and traceback."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs():
    """All log output, as an operator running at LOG_LEVEL=DEBUG would get it."""
    handler = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def _secret_run(ws) -> tuple[set[str], list[str]]:
    """Create every kind of secret and fail around them; (secrets, texts to search)."""
    owner = client_with(ws.token)
    secrets: set[str] = {ws.token}
    seen: list[str] = []

    def call(method: str, path: str, body=None, *, keep: bool = True, client=owner):
        response = getattr(client, method)(path, body or {}, format="json")
        if keep:
            seen.append(response.content.decode())
        return response

    created = call(
        "post", ws.url("api-keys/"), {"name": "CI", "scopes": ["contacts:read"]}, keep=False
    )
    secrets.add(created.json()["key"])
    member, token = ws.add_member("agent", email="ana@acme.test")
    member.user.set_password(PASSWORD)
    member.user.save()
    secrets |= {token, PASSWORD}
    signed_in = call(
        "post", "/api/v1/auth/token", {"email": "ana@acme.test", "password": PASSWORD}, keep=False
    )
    secrets.add(signed_in.json()["token"])
    call("post", "/api/v1/auth/token", {"email": "ana@acme.test", "password": PASSWORD + "x"})
    secrets.add(call("post", ws.url("realtime/tickets/"), keep=False).json()["ticket"])

    hook = call(
        "post", ws.url("webhooks/"), {"url": "http://127.0.0.1:9/hook", "events": []}, keep=False
    ).json()
    secrets.add(hook["secret"])
    rotated = call("post", ws.url(f"webhooks/{hook['id']}/rotate-secret/"), keep=False).json()
    secrets.add(rotated["secret"])

    accounts = {}
    for platform, (external_id, credentials) in CREDENTIALS.items():
        secrets |= {v for k, v in credentials.items() if "secret" in k or "token" in k}
        secrets |= {v for k, v in credentials.items() if k in ("smtp_password", "consumer_key")}
        body = {"platform": platform, "name": platform, "external_id": external_id}
        # A wrong credential first (the refusal must not echo it), then the real ones.
        call("post", ws.url("brand-accounts/"), {**body, "credentials": {"bogus": "x"}})
        response = call("post", ws.url("brand-accounts/"), {**body, "credentials": credentials})
        assert response.status_code == 201, response.content
        accounts[platform] = response.json()
        call("get", ws.url(f"brand-accounts/{accounts[platform]['id']}/"))
    call(
        "patch",
        ws.url(f"brand-accounts/{accounts['facebook']['id']}/"),
        {"credentials": {"page_access_token": "EAAGrotatedsecrettoken987654"}},
    )
    secrets.add("EAAGrotatedsecrettoken987654")

    # Failures around the secrets: a forged inbound webhook, replies whose sends fail,
    # deliveries to a dead endpoint.
    for account in accounts.values():
        APIClient().post(
            f"/api/v1/inbound/{account['id']}/", b"{}", content_type="application/json"
        )
    from tests.conversations.conftest import Inbox

    inbox = Inbox(ws)
    for platform in ("facebook", "telegram", "x"):
        inbox.accounts[platform] = _account(accounts[platform]["id"])
        conversation = inbox.conversation(platform=platform, text="hello")
        call("post", ws.url(f"conversations/{conversation.pk}/messages/"), {"text": "re"})
        call("get", ws.url(f"conversations/{conversation.pk}/messages/"))
    inbound_events_drain(budget_seconds=10)
    call("get", ws.url(f"webhooks/{hook['id']}/deliveries/"))
    for path in ("webhooks/", "api-keys/", "brand-accounts/", "inbound-events/", "members/"):
        call("get", ws.url(path))
    call("get", "/api/v1/me")
    return secrets, seen


def _account(account_id):
    from integrations.models import BrandAccount

    return BrandAccount.objects.get(pk=account_id)


def test_no_secret_in_logs_errors_schema_logs_of_events_and_audit_or_pages(
    ws, captured_logs, settings
):
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    secrets, responses = _secret_run(ws)

    schema = APIClient().get("/api/v1/schema/").content.decode()
    events = "\n".join(
        str(data)
        for data in Event.objects.filter(workspace=ws.workspace).values_list("data", flat=True)
    )
    audit = client_with(ws.token).get(ws.url("audit-log/?page_size=100")).content.decode()
    browser = APIClient()
    browser.force_login(ws.owner.user)
    pages = [
        browser.get(path).content.decode(errors="replace")
        for path in ("/console/", f"/console/{ws.slug}/", "/console/login/")
    ]
    if "django.contrib.admin" in django_settings.INSTALLED_APPS:  # pragma: no cover
        pages.append(browser.get("/admin/").content.decode(errors="replace"))

    places = {
        "logs": "\n".join(captured_logs.lines),
        "responses": "\n".join(responses),
        "schema": schema,
        "events": events,
        "audit log": audit,
        "pages": "\n".join(pages),
    }
    assert len(captured_logs.lines) > 20  # the run did log (failed sends and deliveries)
    leaks = [
        f"{secret[:12]}... in {place}"
        for secret in sorted(secrets)
        for place, text in places.items()
        if secret in text
    ]
    assert not leaks, leaks


def test_urls_in_errors_keep_no_token():
    from integrations.adapters._http import shown_url

    assert (
        shown_url("https://user:pw@api.telegram.org/bot700:AAF-secret/sendMessage?x=1")
        == "https://api.telegram.org/bot***/sendMessage"
    )
    assert shown_url("https://graph.facebook.com/v21.0/me/messages?access_token=EAAG") == (
        "https://graph.facebook.com/v21.0/me/messages"
    )
