"""Registration of every drive.v1 servicer on a server (used by the composition root)."""

from __future__ import annotations

import asyncio

import grpc

from drive.v1 import (
    files_pb2,
    files_pb2_grpc,
    stats_pb2,
    stats_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
    uploads_pb2,
    uploads_pb2_grpc,
)
from drive_service.api.files import FileServicer
from drive_service.api.stats import StatsServicer
from drive_service.api.tasks import TaskServicer
from drive_service.api.uploads import UploadServicer
from drive_service.services.events import EventWatcher
from drive_service.services.files import FileManager
from drive_service.services.health import HealthChecker
from drive_service.services.rate_limits import RateLimits
from drive_service.services.tasks import TaskManager
from drive_service.services.uploads import UploadManager

_DESCRIPTORS = (
    uploads_pb2.DESCRIPTOR.services_by_name["UploadService"],
    tasks_pb2.DESCRIPTOR.services_by_name["TaskService"],
    stats_pb2.DESCRIPTOR.services_by_name["StatsService"],
    files_pb2.DESCRIPTOR.services_by_name["FileService"],
)
#: Full names of the drive.v1 services, for health and reflection.
SERVICE_NAMES = tuple(descriptor.full_name for descriptor in _DESCRIPTORS)


def register_servicers(
    server: grpc.aio.Server,
    *,
    tasks: TaskManager,
    watcher: EventWatcher,
    uploads: UploadManager,
    files: FileManager,
    health: HealthChecker,
    rate_limits: RateLimits,
    stream_idle_seconds: float,
    stopping: asyncio.Event,
) -> None:
    """Add the drive.v1 servicers over these managers to ``server``; ``stopping`` is set when the
    server stops (downloads in progress then end at once)."""
    tasks_pb2_grpc.add_TaskServiceServicer_to_server(TaskServicer(tasks, watcher), server)
    stats_pb2_grpc.add_StatsServiceServicer_to_server(StatsServicer(tasks, uploads, health), server)
    uploads_pb2_grpc.add_UploadServiceServicer_to_server(
        UploadServicer(uploads, rate_limits, stream_idle_seconds), server
    )
    files_pb2_grpc.add_FileServiceServicer_to_server(FileServicer(files, stopping), server)
