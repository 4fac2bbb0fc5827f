"""The SSRF guard: refused at creation and at delivery, and the vetted address is used."""

import ipaddress

import pytest

from crm.models import WebhookDelivery
from crm.services.events import event_record
from crm.webhooks import ssrf
from crm.webhooks.delivery import subscription_deliver

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.9", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("169.254.10.10", "link-local"),
    ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a00:1", "private"),
]


@pytest.mark.parametrize(("address", "kind"), REFUSED, ids=[a for a, _ in REFUSED])
def test_non_public_addresses_are_refused(address, kind):
    reason = ssrf.address_refusal(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None
    assert kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(address):
    assert ssrf.address_refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_the_setting_allows_loopback_and_private_but_never_metadata():
    for address in ("127.0.0.1", "::1", "10.0.0.1", "192.168.0.2"):
        assert ssrf.address_refusal(ipaddress.ip_address(address), allow_private=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "0.0.0.0", "224.0.0.1"):
        assert ssrf.address_refusal(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pass@example.com/",
        "http:///nohost",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",  # a name that resolves to 127.0.0.1
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_target_resolve_refuses(url):
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.target_resolve(url, allow_private=False)


def test_a_name_with_any_private_answer_is_refused(fake_dns):
    fake_dns({"mixed.example.test": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(ssrf.UnsafeUrl, match="private"):
        ssrf.target_resolve("https://mixed.example.test/hook", allow_private=False)


def test_the_target_connects_to_the_vetted_address_with_the_name_as_host(fake_dns):
    fake_dns({"hooks.example.test": ["93.184.216.34"]})
    target = ssrf.target_resolve("https://hooks.example.test:8443/in?x=1", allow_private=False)
    assert target.connect_url() == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header() == "hooks.example.test:8443"
    fake_dns({"v6.example.test": ["2606:2800:220:1:248:1893:25c8:1946"]})
    target = ssrf.target_resolve("http://v6.example.test/in", allow_private=False)
    assert target.connect_url() == "http://[2606:2800:220:1:248:1893:25c8:1946]:80/in"
    assert target.host_header() == "v6.example.test"


# --- At creation, through the API ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.1/hook",
    ],
)
def test_creation_refuses_private_urls_when_the_setting_is_off(client, ws, settings, url):
    settings.CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = False
    response = client.post(ws.url("webhooks/"), {"url": url}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "unsafe_url"
    assert "url" in response.json()["error"]["details"]
    assert not client.get(ws.url("webhooks/")).json()["results"]


def test_creation_resolves_names(client, ws, settings, fake_dns):
    settings.CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = False
    fake_dns({"internal.example.test": ["10.20.30.40"], "public.example.test": ["93.184.216.34"]})
    refused = client.post(ws.url("webhooks/"), {"url": "https://internal.example.test/h"})
    assert refused.status_code == 400
    accepted = client.post(ws.url("webhooks/"), {"url": "https://public.example.test/h"})
    assert accepted.status_code == 201
    # A change of URL is vetted the same way.
    hook = accepted.json()["id"]
    changed = client.patch(ws.url(f"webhooks/{hook}/"), {"url": "http://localhost/h"})
    assert changed.status_code == 400
    assert changed.json()["error"]["code"] == "unsafe_url"


# --- At delivery (DNS rebinding) -------------------------------------------------------------


def test_delivery_refuses_a_name_that_now_resolves_to_loopback(
    ws, subscribe, sink, settings, fake_dns, clock
):
    settings.CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = False
    port = sink.url.split(":")[2].split("/")[0]
    fake_dns({"rebind.example.test": ["93.184.216.34"]})
    subscription, _ = subscribe(f"http://rebind.example.test:{port}/_sink/{sink.name}")
    # The name now answers 127.0.0.1, where the receiver (our sink) actually listens.
    fake_dns({"rebind.example.test": ["127.0.0.1"]})
    event_record(workspace=ws.workspace, type="contact.created", data={"id": "c1"})

    outcome = subscription_deliver(subscription_id=subscription.pk)

    assert outcome.failed
    assert sink.requests() == []
    attempt = WebhookDelivery.objects.get(subscription=subscription)
    assert attempt.ok is False
    assert attempt.status_code is None
    assert attempt.error.startswith("unsafe_url")
    assert "loopback" in attempt.error


def test_delivery_connects_to_the_vetted_address_and_sends_the_name(
    ws, subscribe, sink, fake_dns, clock
):
    port = sink.url.split(":")[2].split("/")[0]
    fake_dns({"hooks.example.test": ["127.0.0.1"]})  # allowed: the test setting is on
    subscription, _ = subscribe(f"http://hooks.example.test:{port}/_sink/{sink.name}")
    event_record(workspace=ws.workspace, type="contact.created", data={"id": "c1"})

    assert subscription_deliver(subscription_id=subscription.pk).delivered == 1

    (received,) = sink.requests()
    assert received["headers"]["host"] == f"hooks.example.test:{port}"
