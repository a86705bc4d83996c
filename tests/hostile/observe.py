"""What an account has stored, whether its normal calls work, and whether the server is SERVING."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

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
    """How many tasks, uploads, files and bundles an account has, and its quota use."""

    tasks: int = 0
    uploads: int = 0
    files: int = 0
    bundles: int = 0
    used_bytes: int = 0
    reserved_bytes: int = 0


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
) -> Counts | None:
    """The account's Counts; a read failing is a problem (None when one did). ``every_read``: all
    NORMAL_READS, not only the COUNT_READS."""
    outcomes = await _reads(channel, metadata, NORMAL_READS if every_read else COUNT_READS)
    for rpc_id, outcome in outcomes.items():
        if not outcome.ok or outcome.unparsable_responses:
            problems.add(Unhealthy, f"{rpc_id} of the caller fails afterwards: {outcome.describe()}")
    if any(not outcome.responses for outcome in outcomes.values()):
        return None
    quota = outcomes["FileService.GetQuota"].responses[0]
    return Counts(
        tasks=outcomes["TaskService.ListTasks"].responses[0].total,  # type: ignore[attr-defined]
        uploads=outcomes["UploadService.ListUploadTasks"].responses[0].total,  # type: ignore[attr-defined]
        files=outcomes["FileService.ListFiles"].responses[0].total,  # type: ignore[attr-defined]
        bundles=outcomes["FileService.ListBundles"].responses[0].total,  # type: ignore[attr-defined]
        used_bytes=quota.used_bytes,  # type: ignore[attr-defined]
        reserved_bytes=quota.reserved_bytes,  # type: ignore[attr-defined]
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
