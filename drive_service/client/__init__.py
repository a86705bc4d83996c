"""Client library of drive-service: ``AsyncDriveClient`` (asyncio) and ``DriveClient`` (blocking).

Importing it needs only grpcio, protobuf, googleapis-common-protos, grpcio-status, google-crc32c
and the generated ``drive.v1`` stubs; none of the server's modules are loaded.
"""

from __future__ import annotations

from drive_service.client.aio import AsyncDriveClient
from drive_service.client.channel import ChannelOptions
from drive_service.client.errors import (
    AlreadyExistsError,
    CallCancelledError,
    DataLossError,
    DeadlineExceededError,
    DriveClientError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ResyncRequiredError,
    RetryableError,
    ServerError,
    UnauthenticatedError,
    UnavailableError,
    WaitTimeoutError,
)
from drive_service.client.models import (
    CloudFile,
    DownloadResult,
    Page,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    UploadProgress,
    UploadResult,
)
from drive_service.client.retry import RetryPolicy
from drive_service.client.sync import DriveClient

__all__ = [
    "AlreadyExistsError",
    "AsyncDriveClient",
    "CallCancelledError",
    "ChannelOptions",
    "CloudFile",
    "DataLossError",
    "DeadlineExceededError",
    "DownloadResult",
    "DriveClient",
    "DriveClientError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "ResyncRequiredError",
    "RetryPolicy",
    "RetryableError",
    "ServerError",
    "Task",
    "TaskEvent",
    "TaskStatus",
    "TaskType",
    "UnauthenticatedError",
    "UnavailableError",
    "UploadProgress",
    "UploadResult",
    "WaitTimeoutError",
]
