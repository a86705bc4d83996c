"""A client of the real API: the four service stubs on one channel, with one account's bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from drive.v1 import files_pb2_grpc, stats_pb2_grpc, tasks_pb2_grpc, uploads_pb2_grpc
from drive_service.app import App
from tests.support.accounts import auth, new_account, token_for


@dataclass(frozen=True)
class Client:
    """Stubs plus the bearer metadata of one account."""

    account_id: str
    metadata: tuple[tuple[str, str], ...]
    tasks: tasks_pb2_grpc.TaskServiceStub
    stats: stats_pb2_grpc.StatsServiceStub
    uploads: uploads_pb2_grpc.UploadServiceStub
    files: files_pb2_grpc.FileServiceStub


def client_with(channel: grpc.aio.Channel, account_id: str, metadata: tuple[tuple[str, str], ...]) -> Client:
    """A client sending ``metadata`` (e.g. a token minted elsewhere) as ``account_id`` over ``channel``."""
    return Client(
        account_id=account_id,
        metadata=metadata,
        tasks=tasks_pb2_grpc.TaskServiceStub(channel),
        stats=stats_pb2_grpc.StatsServiceStub(channel),
        uploads=uploads_pb2_grpc.UploadServiceStub(channel),
        files=files_pb2_grpc.FileServiceStub(channel),
    )


def make_client(app: App, channel: grpc.aio.Channel, account: str | None = None, **claims: Any) -> Client:
    """A client of ``account`` (default: a brand-new one) on ``app``, with a one-hour token of
    ``app``'s secret; ``claims`` (``tier``, ``perms``) as for ``mint``."""
    account = account or new_account()
    return client_with(channel, account, auth(token_for(app.settings, account, **claims)))
