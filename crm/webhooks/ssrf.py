"""The SSRF guard of outbound webhooks: only public addresses, checked when connecting.

A subscription's URL is checked when it is saved and again before every delivery, since
what a name resolves to changes (DNS rebinding). The delivery then connects to the very
address that was vetted, sending the name in the ``Host`` header and as TLS SNI (the
certificate is still checked against the name), so a second, different answer from DNS
is never used.

Refused: loopback, private (RFC 1918, unique local), link-local, cloud metadata
(169.254.169.254, fd00:ec2::254), unspecified, multicast, reserved, shared (CGNAT) and
every other non-global address, including IPv4-mapped or NAT64 forms of them.
``CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS`` lets loopback and private addresses through, for
tests and local development; metadata addresses stay refused whatever the setting.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2000


class UnsafeUrl(ValueError):
    """The URL is not an acceptable webhook target; the message says why."""


@dataclass(frozen=True)
class Target:
    """A vetted delivery target: connect to ``address``, present ``host``."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress

    def connect_url(self) -> str:
        """The URL with the vetted address in place of the name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{literal}:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


# Tests replace this to play a DNS server that changes its answer.
resolver = _resolve


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be reached, or None when it may."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = address_refusal(embedded, allow_private=allow_private)
        if reason:
            return reason
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private and not address.is_reserved:
        return None if allow_private else "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return None if allow_private else "a non-public address"
    return None


def target_resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """Check ``url`` and resolve its host to one vetted address, or raise ``UnsafeUrl``.

    Every address the name resolves to must be acceptable: a name that answers with a
    public and a private address is refused, not raced.
    """
    if allow_private is None:
        allow_private = settings.CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("The URL cannot be parsed.") from exc
    scheme = (parts.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl("The URL must start with https:// or http://.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL must not hold credentials.")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl(f"The host {host!r} does not resolve.") from exc
    if not addresses:
        raise UnsafeUrl(f"The host {host!r} does not resolve.")
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            raise UnsafeUrl(f"The host {host!r} resolves to {reason} ({address}).")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
