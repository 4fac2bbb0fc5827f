"""Signals other apps listen to.

``reply_queued`` is sent after commit with ``message_id`` and ``workspace_id`` when an
outbound reply is stored in status ``queued``: the channel adapters (integrations) send
it and move its status on with ``message_status_set``.
"""

from django.dispatch import Signal

reply_queued = Signal()
