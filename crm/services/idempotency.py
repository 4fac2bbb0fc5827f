"""``Idempotency-Key`` on writes: the same key and body within 24 h replay the first answer.

The key is claimed with an INSERT under a unique constraint before the write runs, so two
concurrent retries cannot both perform it. The API runs the claim, the write and the
recording of its answer in one transaction (``BaseApi.dispatch``): a second request with
the key waits for the first and replays its answer, and a write that fails leaves no
claim behind.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import Conflict, InvalidInput
from ..models import IdempotencyRecord

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


def idempotency_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same': method, path and exact body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(
    *, principal: str, key: str, fingerprint: str
) -> IdempotencyRecord | StoredResponse:
    """Claim ``key`` for a new request, or return the stored answer of the first one.

    Raises Conflict when the key was used with another request, or is still in flight.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            details={"Idempotency-Key": ["Invalid length."]},
        )
    horizon = timezone.now() - settings.CAUSERIE_IDEMPOTENCY_TTL
    IdempotencyRecord.objects.filter(principal=principal, key=key, created_at__lt=horizon).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                principal=principal, key=key, request_fingerprint=fingerprint
            )
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
    if existing is None:
        # Expired and removed between our two statements: a retry will claim it.
        raise Conflict("The Idempotency-Key is being reused; retry.", code="idempotency_conflict")
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
        )
    if existing.status_code is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_in_progress",
        )
    return StoredResponse(status_code=existing.status_code, body=existing.response_body)


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, body: Any) -> None:
    """Remember the answer; a server error frees the key so that a retry runs again."""
    if status_code >= 500:
        if transaction.get_connection().in_atomic_block:
            # Undo the write and the claim together: the database may be gone, so no
            # statement is needed for it.
            transaction.set_rollback(True)
        else:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status_code=status_code, response_body=body
    )


def idempotency_records_purge() -> int:
    """Delete records older than the replay window; returns how many."""
    horizon = timezone.now() - settings.CAUSERIE_IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=horizon).delete()
    return deleted
