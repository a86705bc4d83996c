"""The audit trail: one structured record per state-changing call and per worker action, on the
``drive_service.audit`` logger (its own file with DRIVE_AUDIT_LOG).

A record holds the time, account, action, target ids, outcome code, request id and peer address;
never a secret, password, token or file content: callers pass ids and codes only.
"""

from __future__ import annotations

import logging

LOGGER = "drive_service.audit"
_log = logging.getLogger(LOGGER)


def record(
    action: str,
    *,
    account_id: str | None,
    outcome: str,
    targets: dict[str, str] | None = None,
    request_id: str | None = None,
    peer: str | None = None,
) -> None:
    """Write one audit record (``outcome`` is a gRPC code name such as ``OK`` or ``NOT_FOUND``,
    or what a worker action ended in)."""
    _log.info(
        action,
        extra={
            "audit": True,
            "action": action,
            "account_id": account_id,
            "outcome": outcome,
            "targets": targets or {},
            "request_id": request_id,
            "peer": peer,
        },
    )
