"""What an account has stored, whether its normal calls work, and whether the server is SERVING."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drive.v1 import files_pb2, stats_pb2, tasks_pb2, uploads_pb2
from tests.hostile.checks import Problems, Unhealthy
from tests.hostile.invoke import Channels, Outcome, invoke
from tests.hostile.rpcs import RPCS, Rpc

_BY_ID = {rpc.id: rpc for rpc in RPCS}
_TIMEOUT = 30.0
#: The reads that give an account's Counts; each must work for the account after any call.
COUNT_READS = {
    "TaskService.ListTasks": tasks_pb2.ListTasksRequest(),
    "UploadService.ListUploadTasks": uploads_pb2.ListUploadTasksRequest(),
    "FileService.ListFiles": files_pb2.ListFilesRequest(),
    "FileService.ListBundles": files_pb2.ListBundlesRequest(),
    "FileService.GetQuota": files_pb2.GetQuotaRequest(),
}
#: With the other reads a client makes all the time (after a call that may have stored something).
NORMAL_READS = {
    **COUNT_READS,
    "UploadService.ListRecentUploadTasks": uploads_pb2.ListRecentUploadTasksRequest(),
    "StatsService.GetTaskStats": stats_pb2.GetTaskStatsRequest(),
    "StatsService.GetUploadStats": stats_pb2.GetUploadStatsRequest(),
}
#: The victim's full lists: equal before and after means nothing of the victim changed.
_VICTIM_READS = {
    "TaskService.ListTasks": tasks_pb2.ListTasksRequest(limit=1000),
    "UploadService.ListUploadTasks": uploads_pb2.ListUploadTasksRequest(limit=1000),
    "FileService.ListFiles": files_pb2.ListFilesRequest(limit=1000),
    "FileService.ListBundles": files_pb2.ListBundlesRequest(limit=1000),
    "FileService.GetQuota": files_pb2.GetQuotaRequest(),
}


@dataclass(frozen=True)
class Counts:
    """How many tasks, uploads, files and bundles an account has, and its quota use (None: the
    read that tells failed)."""

    tasks: int | None = 0
    uploads: int | None = 0
    files: int | None = 0
    bundles: int | None = 0
    used_bytes: int | None = 0
    reserved_bytes: int | None = 0

    @property
    def complete(self) -> bool:
        return None not in vars(self).values()


async def _reads(
    channel: Channels, metadata: tuple[tuple[str, str], ...], reads: Mapping[str, Message]
) -> dict[str, Outcome]:
    calls = [
        invoke(channel, _BY_ID[rpc_id], request.SerializeToString(), metadata, _TIMEOUT)
        for rpc_id, request in reads.items()
    ]
    return dict(zip(reads, await asyncio.gather(*calls), strict=True))


async def counts(
    channel: Channels, metadata: tuple[tuple[str, str], ...], problems: Problems, *, every_read: bool = True
) -> Counts:
    """The account's Counts; a read failing is a problem. ``every_read``: all NORMAL_READS, not
    only the COUNT_READS."""
    outcomes = await _reads(channel, metadata, NORMAL_READS if every_read else COUNT_READS)
    read: dict[str, Any] = {}
    for rpc_id, outcome in outcomes.items():
        if not outcome.ok or outcome.unparsable_responses or not outcome.responses:
            problems.add(Unhealthy, f"{rpc_id} of the caller fails afterwards: {outcome.describe()}")
        else:
            read[rpc_id] = outcome.responses[0]

    def total(rpc_id: str) -> int | None:
        return int(read[rpc_id].total) if rpc_id in read else None

    quota = read.get("FileService.GetQuota")
    return Counts(
        tasks=total("TaskService.ListTasks"),
        uploads=total("UploadService.ListUploadTasks"),
        files=total("FileService.ListFiles"),
        bundles=total("FileService.ListBundles"),
        used_bytes=None if quota is None else int(quota.used_bytes),
        reserved_bytes=None if quota is None else int(quota.reserved_bytes),
    )


async def fingerprint(channel: Channels, metadata: tuple[tuple[str, str], ...]) -> tuple[bytes, ...]:
    """The victim's lists and quota use, byte for byte (its quota limit excluded: an admin may
    legitimately change it)."""
    outcomes = await _reads(channel, metadata, _VICTIM_READS)
    parts = []
    for rpc_id, outcome in outcomes.items():
        assert outcome.ok and outcome.responses, f"victim's {rpc_id}: {outcome.describe()}"
        response = outcome.responses[0]
        if rpc_id == "FileService.GetQuota":
            response.ClearField("quota_bytes")
        parts.append(response.SerializeToString(deterministic=True))
    return tuple(parts)


async def serving(channel: grpc.aio.Channel, problems: Problems) -> None:
    """The gRPC health service answers SERVING."""
    try:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=_TIMEOUT
        )
    except grpc.aio.AioRpcError as error:
        problems.add(Unhealthy, f"health Check failed: {error.code().name} {error.details()}")
        return
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        problems.add(Unhealthy, f"health Check answers {response.status}")


def rpc(rpc_id: str) -> Rpc:
    """The Rpc of ``Service.Method``."""
    return _BY_ID[rpc_id]
