"""Registration of every drive.v1 servicer on a server (used by the composition root)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from drive_service.app import App

_DESCRIPTORS = (
    uploads_pb2.DESCRIPTOR.services_by_name["UploadService"],
    tasks_pb2.DESCRIPTOR.services_by_name["TaskService"],
    stats_pb2.DESCRIPTOR.services_by_name["StatsService"],
    files_pb2.DESCRIPTOR.services_by_name["FileService"],
)
#: Full names of the drive.v1 services, for health and reflection.
SERVICE_NAMES = tuple(descriptor.full_name for descriptor in _DESCRIPTORS)


def register_servicers(server: grpc.aio.Server, app: App) -> None:
    """Add the servicers of ``app``'s managers to ``server``."""
    tasks_pb2_grpc.add_TaskServiceServicer_to_server(TaskServicer(app.tasks, app.watcher), server)
    stats_pb2_grpc.add_StatsServiceServicer_to_server(
        StatsServicer(app.tasks, app.uploads, app.health_checker), server
    )
    uploads_pb2_grpc.add_UploadServiceServicer_to_server(
        UploadServicer(app.uploads, app.rate_limits, app.settings.stream_idle_seconds), server
    )
    files_pb2_grpc.add_FileServiceServicer_to_server(FileServicer(app.files), server)
