"""Email: inbound raw MIME posted to our webhook, outbound over SMTP (CHANNELS.md §8).

Inbound contract. A mail relay (Postfix pipe, an inbound-parse service, the emulator)
POSTs the raw RFC 5322 message, byte for byte, to the brand account's ``webhook_url``
with ``Content-Type: message/rfc822`` and the header::

    X-Causerie-Signature: sha256=<lowercase hex HMAC-SHA256 of the raw body, keyed with
                          the account's inbound_secret>

The signature covers the exact bytes sent; any re-encoding on the way breaks it.

Threading (RFC 5322 §3.6.4): thread key ``mailbox:<first References id>``, else
``In-Reply-To``, else the message's own Message-ID; the parent is ``In-Reply-To`` (else
the last References id). A delivery status notification (``multipart/report;
report-type=delivery-status``) becomes a ``status.failed`` event about the original
message. Mail whose From is the mailbox itself (a Bcc or a relayed Sent copy) is an echo.

Outbound: one SMTP submission per reply (SMTPS on port 465, STARTTLS when the server
offers it, AUTH when a username is configured). The Message-ID is derived from the
reply's ``client_ref`` so that a retried send keeps its identity and the echo matches.
SMTP cannot fetch remote files, so attachment URLs are listed at the end of the text.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from typing import Any

import httpx

from ._payload import compare, credential, header, hmac_sha256, html_to_text
from .base import (
    Adapter,
    Attachment,
    AttachmentKind,
    AuthError,
    Channel,
    ConversationKind,
    DeliveryStatus,
    Direction,
    EventType,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PayloadError,
    PolicyError,
    SendResult,
    TransientError,
)

SIGNATURE_HEADER = "X-Causerie-Signature"
_MSG_ID = re.compile(r"<[^<>\s]+>")
_SAFE_ID = re.compile(r"[^A-Za-z0-9._+-]")
_SMTP_TIMEOUT = 15.0


def _ids(value: str | None) -> list[str]:
    return _MSG_ID.findall(value or "")


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError):
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    return content if isinstance(content, str) else ""


def _body_text(message: EmailMessage) -> str | None:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return None
    text = _part_text(body)
    if body.get_content_subtype() == "html":
        text = html_to_text(text)
    return text.strip() or None


def _attachments(message: EmailMessage) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        maintype = part.get_content_maintype()
        kind = {
            "image": AttachmentKind.IMAGE,
            "video": AttachmentKind.VIDEO,
            "audio": AttachmentKind.AUDIO,
        }
        content_id = (part.get("Content-ID") or "").strip("<> ") or None
        found.append(
            Attachment(
                kind=kind.get(maintype, AttachmentKind.FILE),
                platform_media_id=content_id,
                mime=part.get_content_type(),
                size=len(data),
                caption=part.get_filename(),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return tuple(found)


def _delivery_failure(message: EmailMessage) -> tuple[str | None, str | None, str | None]:
    """Original Message-ID, status code and diagnostic of a DSN (RFC 3464)."""
    original = status = diagnostic = None
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for block in part.get_payload() if isinstance(part.get_payload(), list) else []:
                status = status or block.get("Status")
                diagnostic = diagnostic or block.get("Diagnostic-Code")
        elif content_type in {"message/rfc822", "text/rfc822-headers"} and original is None:
            if content_type == "message/rfc822":
                inner = part.get_payload()
                headers_of = inner[0] if isinstance(inner, list) and inner else None
                found = (
                    _ids(str(headers_of.get("Message-ID", ""))) if headers_of is not None else []
                )
            else:
                match = re.search(r"(?im)^message-id:\s*(\S+)", _part_text(part))
                found = _ids(match.group(1)) if match else []
            original = found[0] if found else None
    return original, (str(status) if status else None), (str(diagnostic) if diagnostic else None)


def _sent_at(message: EmailMessage) -> datetime:
    raw = message.get("Date")
    if raw:
        try:
            parsed = parsedate_to_datetime(str(raw))
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            # RFC 5322 "-0000" means unknown zone: read it as UTC.
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    # No usable Date header: the time we read the message is the closest truth.
    return datetime.now(tz=UTC)


def _parse_message(body: bytes, mailbox: str) -> NormalizedEvent:
    message = BytesParser(policy=policy.default).parsebytes(body)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise PayloadError("not an RFC 5322 message")
    addresses = getaddresses([str(message.get("From", ""))])
    name, address = addresses[0] if addresses else ("", "")
    if not address or "@" not in address:
        raise PayloadError("From address is required")
    address = address.lower()
    own_ids = _ids(str(message.get("Message-ID", "")))
    references = _ids(str(message.get("References", "")))
    in_reply_to = _ids(str(message.get("In-Reply-To", "")))
    header_block = body.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    message_id = own_ids[0] if own_ids else f"<sha256:{hashlib.sha256(header_block).hexdigest()}>"
    root = references[0] if references else (in_reply_to[0] if in_reply_to else message_id)
    parent = in_reply_to[0] if in_reply_to else (references[-1] if references else None)
    is_echo = address == mailbox.lower()
    common: dict[str, Any] = {
        "channel": Channel.EMAIL,
        "account_external_id": mailbox,
        "conversation_kind": ConversationKind.EMAIL,
        "author_external_id": address,
        "author_display_name": name or None,
        "idempotency_key": f"mail:{mailbox}:{message_id}",
        "platform_created_at": _sent_at(message),
        "platform_ts_raw": str(message.get("Date")) if message.get("Date") else None,
    }
    if message.get_content_type() == "multipart/report" and (
        message.get_param("report-type") == "delivery-status"
    ):
        original, status, diagnostic = _delivery_failure(message)
        if original is not None:
            return NormalizedEvent(
                **common,
                event_type=EventType.STATUS_FAILED,
                direction=Direction.SYSTEM,
                origin=Origin.BRAND_VIA_CRM,
                thread_key=f"{mailbox}:{original}",
                external_message_id=original,
                status=DeliveryStatus.FAILED,
                error_code=status,
                error_detail=diagnostic,
                client_ref=original,
            )
    return NormalizedEvent(
        **common,
        event_type=EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if is_echo else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if is_echo else Origin.CUSTOMER,
        thread_key=f"{mailbox}:{root}",
        external_message_id=message_id,
        parent_external_id=parent,
        root_external_id=root,
        text=_body_text(message),
        attachments=_attachments(message),
        client_ref=message_id if is_echo else None,
    )


def build_message(*, mailbox: str, reply: OutboundReply) -> EmailMessage:
    """The RFC 5322 message of a reply, threaded under ``root``/``parent``."""
    if not reply.recipient_external_id:
        raise PolicyError("no_recipient", "an email needs a recipient address")
    domain = mailbox.rsplit("@", 1)[-1] or "causerie.invalid"
    message = EmailMessage()
    message["From"] = mailbox
    message["To"] = reply.recipient_external_id
    message["Subject"] = reply.subject or ""
    message["Date"] = format_datetime(datetime.now(tz=UTC))
    if reply.client_ref:
        message["Message-ID"] = f"<{_SAFE_ID.sub('-', reply.client_ref)}@{domain}>"
    else:
        message["Message-ID"] = make_msgid(domain=domain)
    if reply.parent_external_id:
        message["In-Reply-To"] = reply.parent_external_id
    chain = [i for i in (reply.root_external_id, reply.parent_external_id) if i]
    if chain:
        message["References"] = " ".join(dict.fromkeys(chain))
    text = reply.text or ""
    links = [a.url for a in reply.attachments if a.url]
    if links:
        text = text + "\n\n" + "\n".join(links)
    message.set_content(text)
    return message


def _smtp_error(exc: smtplib.SMTPException) -> Exception:
    code = getattr(exc, "smtp_code", None)
    detail = getattr(exc, "smtp_error", b"")
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail or exc)
    # 530/534/535: authentication required or refused, whichever command it answers.
    if isinstance(exc, smtplib.SMTPAuthenticationError) or code in (530, 534, 535):
        return AuthError(code, text)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = codes[0] if codes else None
        text = "; ".join(m.decode("utf-8", "replace") for _, m in exc.recipients.values())
    if isinstance(code, int) and 500 <= code < 600:
        return PolicyError(code, text)
    # 4xx replies and dropped connections are temporary by definition (RFC 5321 §4.2.1).
    return TransientError(code or "smtp", text)


class EmailAdapter(Adapter):
    """One mailbox: signed raw-MIME webhook in, SMTP out."""

    platform = "email"

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """``X-Causerie-Signature: sha256=<hex HMAC>`` with the mailbox's ``inbound_secret``."""
        secret = credential(credentials, "inbound_secret")
        received = header(headers, SIGNATURE_HEADER)
        if secret is None or received is None or not received.startswith("sha256="):
            return False
        return compare(
            hmac_sha256(secret, bytes(body)).hex(), received.removeprefix("sha256=").lower()
        )

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """One message (or one bounce) of the mailbox."""
        if not isinstance(body, bytes | bytearray) or not body.strip():
            raise PayloadError("empty message")
        try:
            return [_parse_message(bytes(body), account_external_id)]
        except PayloadError:
            raise
        except Exception as exc:
            # The stdlib header parser raises assorted errors (IndexError, AttributeError,
            # HeaderParseError…) on hostile input; any of them means "not a usable message".
            raise PayloadError(f"unreadable message: {exc.__class__.__name__}") from None

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """Submit the reply over SMTP; ``client`` and ``base_url`` are unused (no HTTP API)."""
        host = credential(credentials, "smtp_host")
        port_raw = credentials.get("smtp_port") or 587
        if host is None:
            raise AuthError("missing_credential", "credential 'smtp_host' is not configured")
        try:
            port = int(port_raw)
        except (TypeError, ValueError):
            raise AuthError("bad_credential", "smtp_port must be a number") from None
        message = build_message(mailbox=account_external_id, reply=reply)
        username = credential(credentials, "smtp_username")
        password = credentials.get("smtp_password") or ""
        try:
            smtp: smtplib.SMTP
            if port == 465:
                smtp = smtplib.SMTP_SSL(
                    host, port, timeout=_SMTP_TIMEOUT, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=_SMTP_TIMEOUT)
            with smtp:
                smtp.ehlo()
                if port != 465 and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if username:
                    smtp.login(username, str(password))
                refused = smtp.send_message(message)
        except smtplib.SMTPException as exc:
            raise _smtp_error(exc) from exc
        except OSError as exc:
            raise TransientError("network", f"SMTP {host}:{port}: {exc}") from exc
        message_id = str(message["Message-ID"])
        return SendResult(
            external_message_id=message_id,
            raw={
                "message_id": message_id,
                "refused": {k: [c, m.decode("utf-8", "replace")] for k, (c, m) in refused.items()},
            },
        )
