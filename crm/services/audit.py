"""The audit log of administrative actions."""

from typing import Any

from ..actors import Actor
from ..models import AuditLogEntry


def audit_record(
    *,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: Any = "",
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditLogEntry:
    """Record that ``actor`` performed ``action`` on a target, in the caller's transaction."""
    return AuditLogEntry.objects.create(
        workspace=actor.workspace,
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id else "",
        details=details or {},
        ip_address=ip_address or actor.ip_address,
    )
