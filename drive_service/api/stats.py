"""StatsService servicer."""

from __future__ import annotations

import grpc

from drive.v1 import stats_pb2, stats_pb2_grpc
from drive_service import __version__
from drive_service.api import convert
from drive_service.api.auth import current_caller
from drive_service.domain.tasks import TaskStatus
from drive_service.services.health import HealthChecker
from drive_service.services.tasks import TaskManager
from drive_service.services.uploads import UploadManager


class StatsServicer(stats_pb2_grpc.StatsServiceServicer):
    """Per-account statistics and the public service health report."""

    def __init__(self, tasks: TaskManager, uploads: UploadManager, health: HealthChecker) -> None:
        self._tasks = tasks
        self._uploads = uploads
        self._health = health

    async def GetUploadStats(
        self, request: stats_pb2.GetUploadStatsRequest, context: grpc.aio.ServicerContext
    ) -> stats_pb2.GetUploadStatsResponse:
        stats, recent = await self._uploads.stats(current_caller().account_id)
        counts = stats.by_status
        return stats_pb2.GetUploadStatsResponse(
            total_tasks=sum(counts.values()),
            in_progress_tasks=counts.get(TaskStatus.IN_PROGRESS, 0),
            completed_tasks=counts.get(TaskStatus.COMPLETED, 0),
            failed_tasks=counts.get(TaskStatus.FAILED, 0),
            expired_tasks=counts.get(TaskStatus.EXPIRED, 0),
            cancelled_tasks=counts.get(TaskStatus.CANCELLED, 0),
            total_uploaded_bytes=stats.uploaded_bytes,
            average_progress=stats.average_progress,
            recent_activity=[
                stats_pb2.RecentUploadActivity(
                    task_id=task.task_id,
                    file_name=upload.file_name,
                    status=convert.task_status_to_proto(task.status),
                    last_activity=convert.timestamp(task.last_activity),
                    progress=task.progress,
                )
                for task, upload in recent
            ],
        )

    async def GetTaskStats(
        self, request: stats_pb2.GetTaskStatsRequest, context: grpc.aio.ServicerContext
    ) -> stats_pb2.GetTaskStatsResponse:
        stats = await self._tasks.stats(current_caller().account_id)
        return stats_pb2.GetTaskStatsResponse(
            total_tasks=stats.total,
            by_type={task_type.value: count for task_type, count in stats.by_type.items()},
            by_status={status.value: count for status, count in stats.by_status.items()},
            average_progress=stats.average_progress,
            average_duration_seconds=stats.average_duration_seconds,
        )

    async def GetServiceHealth(
        self, request: stats_pb2.GetServiceHealthRequest, context: grpc.aio.ServicerContext
    ) -> stats_pb2.GetServiceHealthResponse:
        report = await self._health.report()
        return stats_pb2.GetServiceHealthResponse(
            healthy=report.healthy,
            components=[
                stats_pb2.ComponentHealth(
                    name=component.name,
                    configured=component.configured,
                    healthy=component.healthy,
                    detail=component.detail,
                    latency_ms=component.latency_ms,
                )
                for component in report.components
            ],
            pending_tasks=report.pending_tasks,
            in_progress_tasks=report.in_progress_tasks,
            version=__version__,
        )
