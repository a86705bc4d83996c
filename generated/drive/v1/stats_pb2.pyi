import datetime

from drive.v1 import task_enums_pb2 as _task_enums_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetUploadStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUploadStatsResponse(_message.Message):
    __slots__ = ("total_tasks", "in_progress_tasks", "completed_tasks", "failed_tasks", "expired_tasks", "total_uploaded_bytes", "average_progress", "recent_activity", "cancelled_tasks")
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_TASKS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TASKS_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_TASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_UPLOADED_BYTES_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RECENT_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_TASKS_FIELD_NUMBER: _ClassVar[int]
    total_tasks: int
    in_progress_tasks: int
    completed_tasks: int
    failed_tasks: int
    expired_tasks: int
    total_uploaded_bytes: int
    average_progress: float
    recent_activity: _containers.RepeatedCompositeFieldContainer[RecentUploadActivity]
    cancelled_tasks: int
    def __init__(self, total_tasks: _Optional[int] = ..., in_progress_tasks: _Optional[int] = ..., completed_tasks: _Optional[int] = ..., failed_tasks: _Optional[int] = ..., expired_tasks: _Optional[int] = ..., total_uploaded_bytes: _Optional[int] = ..., average_progress: _Optional[float] = ..., recent_activity: _Optional[_Iterable[_Union[RecentUploadActivity, _Mapping]]] = ..., cancelled_tasks: _Optional[int] = ...) -> None: ...

class GetTaskStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTaskStatsResponse(_message.Message):
    __slots__ = ("total_tasks", "by_type", "by_status", "average_progress", "average_duration_seconds")
    class ByTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    total_tasks: int
    by_type: _containers.ScalarMap[str, int]
    by_status: _containers.ScalarMap[str, int]
    average_progress: float
    average_duration_seconds: float
    def __init__(self, total_tasks: _Optional[int] = ..., by_type: _Optional[_Mapping[str, int]] = ..., by_status: _Optional[_Mapping[str, int]] = ..., average_progress: _Optional[float] = ..., average_duration_seconds: _Optional[float] = ...) -> None: ...

class GetServiceHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServiceHealthResponse(_message.Message):
    __slots__ = ("healthy", "components", "pending_tasks", "in_progress_tasks", "active_uploads", "version")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    PENDING_TASKS_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_TASKS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_UPLOADS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    components: _containers.RepeatedCompositeFieldContainer[ComponentHealth]
    pending_tasks: int
    in_progress_tasks: int
    active_uploads: int
    version: str
    def __init__(self, healthy: _Optional[bool] = ..., components: _Optional[_Iterable[_Union[ComponentHealth, _Mapping]]] = ..., pending_tasks: _Optional[int] = ..., in_progress_tasks: _Optional[int] = ..., active_uploads: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class RecentUploadActivity(_message.Message):
    __slots__ = ("task_id", "file_name", "status", "last_activity", "progress")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    file_name: str
    status: _task_enums_pb2.TaskStatus
    last_activity: _timestamp_pb2.Timestamp
    progress: float
    def __init__(self, task_id: _Optional[str] = ..., file_name: _Optional[str] = ..., status: _Optional[_Union[_task_enums_pb2.TaskStatus, str]] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress: _Optional[float] = ...) -> None: ...

class ComponentHealth(_message.Message):
    __slots__ = ("name", "configured", "healthy", "detail", "latency_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    configured: bool
    healthy: bool
    detail: str
    latency_ms: float
    def __init__(self, name: _Optional[str] = ..., configured: _Optional[bool] = ..., healthy: _Optional[bool] = ..., detail: _Optional[str] = ..., latency_ms: _Optional[float] = ...) -> None: ...
