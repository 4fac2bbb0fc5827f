"""The base classes every API view inherits: auth, scopes, workspace scoping, idempotency.

``BaseApi`` is for endpoints outside a workspace; ``WorkspaceApi`` resolves
``{workspace}`` from the URL to an ``Actor`` (404 for a credential of another workspace)
and checks the scope the view requires for the HTTP method (403 when missing).
"""

import dataclasses
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, transaction
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..actors import Actor
from ..exceptions import Forbidden
from ..selectors import actor_for_request
from ..services.idempotency import (
    StoredResponse,
    idempotency_claim,
    idempotency_complete,
    idempotency_fingerprint,
)
from ..transactions import ATTEMPTS, is_deadlock
from .errors import service_unavailable_response
from .pagination import CursorPagination

IDEMPOTENT_METHODS = ("POST",)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
logger = logging.getLogger(__name__)


class _DeadlockVictim(Exception):
    """The request's transaction was aborted to break a deadlock: run it again."""


class _IdempotentReplay(Exception):
    def __init__(self, stored: StoredResponse):
        self.stored = stored


def principal_of(request: Request) -> str | None:
    """A stable identifier of the credential behind a request, for idempotency keys."""
    credential = getattr(request, "auth", None)
    if credential is not None and hasattr(credential, "prefix"):
        return credential.prefix
    if request.user and request.user.is_authenticated and request.user.pk:
        return f"user:{request.user.pk}"
    return None


class BaseApi(APIView):
    """An API endpoint: JSON, bearer or session auth, throttled, idempotent POSTs."""

    def dispatch(self, request, *args: Any, **kwargs: Any):
        if request.method not in WRITE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # A write runs in one transaction, with its claim of an Idempotency-Key if it has
        # one: if it fails (the database going away mid-request included), nothing of it
        # stays, the claim neither, so the client's retry runs it afresh instead of meeting
        # a key stuck "in progress"; if it commits, its answer commits with it. A retry
        # racing the first request waits for it on the key's unique index. Chosen as a
        # deadlock's victim (crm.transactions), the whole request runs again, from a body
        # kept in memory (not for multipart uploads, which run once).
        retryable = not request.content_type.startswith("multipart/")
        if retryable:
            try:
                request.body  # noqa: B018 - read once, so that a second attempt can parse it
            except RequestDataTooBig:
                retryable = False  # refused with 413 by the parser, in the one format
        attempts = ATTEMPTS if retryable else 1
        for attempt in range(1, attempts + 1):
            try:
                with transaction.atomic():
                    self._deadlock_retry = attempt < attempts
                    return super().dispatch(request, *args, **kwargs)
            except _DeadlockVictim:
                logger.warning("deadlock victim, running %s again (%s)", request.path, attempt)
            except (OperationalError, InterfaceError):
                # The commit itself failed (the database went away as the request ended):
                # the retry with the same key replays the answer if it committed after all,
                # or runs the write if it did not.
                logger.exception("commit failed")
                break
        return service_unavailable_response("The database is unavailable; retry shortly.")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._idempotency_record = None
        super().initial(request, *args, **kwargs)
        self.check_scope(request)
        self._idempotency_begin(request)

    def check_scope(self, request: Request) -> None:
        """Hook for scope checks; workspace endpoints implement it."""

    def get_authenticate_header(self, request: Request) -> str:
        # Always challenge for a bearer token, so that a failed credential is a 401 (not a
        # 403) even on endpoints that take none, such as signing in.
        return 'Bearer realm="api"'

    def _idempotency_begin(self, request: Request) -> None:
        key = request.headers.get("Idempotency-Key")
        if key is None or request.method not in IDEMPOTENT_METHODS:
            return
        principal = principal_of(request)
        if principal is None:
            return
        fingerprint = idempotency_fingerprint(
            method=request.method, path=request.path, body=request._request.body
        )
        claimed = idempotency_claim(principal=principal, key=key, fingerprint=fingerprint)
        if isinstance(claimed, StoredResponse):
            raise _IdempotentReplay(claimed)
        self._idempotency_record = claimed

    def handle_exception(self, exc: Exception) -> Response:
        if getattr(self, "_deadlock_retry", False) and is_deadlock(exc):
            # Leave the transaction (rolled back) for dispatch to run the request again.
            raise _DeadlockVictim from exc
        if isinstance(exc, _IdempotentReplay):
            response = Response(exc.stored.body, status=exc.stored.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 500 and transaction.get_connection().in_atomic_block:
            # A write that failed leaves nothing behind (see dispatch).
            transaction.set_rollback(True)
        record = getattr(self, "_idempotency_record", None)
        if record is not None:
            self._idempotency_record = None
            idempotency_complete(
                record=record, status_code=response.status_code, body=response.data
            )
        return response

    # --- pagination helpers -------------------------------------------------------------

    def paginated_response(
        self,
        *,
        queryset,
        serializer_class=None,
        represent=None,
        ordering=("-created_at", "-id"),
        context=None,
        complete=None,
    ) -> Response:
        """One page of ``queryset`` in keyset order, in the list envelope: each row
        through ``represent`` (a plain function, cheaper for long pages), else serialized
        with ``serializer_class``. ``complete`` (a selector taking and returning the
        page's rows) adds what the rows need from other tables, in a query per page."""
        paginator = CursorPagination()
        paginator.ordering = ordering
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        if complete is not None:
            page = complete(page)
        if represent is not None:
            data = [represent(row) for row in page]
        else:
            data = serializer_class(page, many=True, context=context or {}).data
        return paginator.get_paginated_response(data)


class WorkspaceApi(BaseApi):
    """An endpoint under ``/api/v1/workspaces/{workspace}/``.

    ``required_scopes`` maps HTTP methods to the scope a credential needs; a method mapped
    to None needs only a valid credential of the workspace.
    """

    required_scopes: dict[str, str | None] = {}
    actor: Actor

    def check_scope(self, request: Request) -> None:
        actor = actor_for_request(user=request.user, workspace_slug=self.kwargs["workspace"])
        self.actor = dataclasses.replace(actor, ip_address=request.META.get("REMOTE_ADDR"))
        self.workspace = self.actor.workspace
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS" or not hasattr(self, method.lower()):
            return  # OPTIONS is metadata; an unhandled method is answered 405 by dispatch
        if method not in self.required_scopes:
            # Deny by default: an endpoint that forgot to state its scope is closed.
            raise Forbidden("This action is not available to API credentials.")
        scope = self.required_scopes[method]
        if scope and not self.actor.has_scope(scope):
            raise Forbidden(
                f"This action needs the {scope!r} scope.", details={"required_scope": scope}
            )
