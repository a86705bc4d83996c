import datetime

from drive.v1 import files_pb2 as _files_pb2
from drive.v1 import task_enums_pb2 as _task_enums_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadTask(_message.Message):
    __slots__ = ("task_id", "file_name", "file_size", "content_type", "chunk_size", "chunks_count", "chunks_uploaded", "progress", "status", "pool_id", "bundle_id", "hash", "encrypted", "expired_at", "last_activity", "created_at", "updated_at", "error_message")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    file_name: str
    file_size: int
    content_type: str
    chunk_size: int
    chunks_count: int
    chunks_uploaded: int
    progress: float
    status: _task_enums_pb2.TaskStatus
    pool_id: str
    bundle_id: str
    hash: str
    encrypted: bool
    expired_at: _timestamp_pb2.Timestamp
    last_activity: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    error_message: str
    def __init__(self, task_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_size: _Optional[int] = ..., content_type: _Optional[str] = ..., chunk_size: _Optional[int] = ..., chunks_count: _Optional[int] = ..., chunks_uploaded: _Optional[int] = ..., progress: _Optional[float] = ..., status: _Optional[_Union[_task_enums_pb2.TaskStatus, str]] = ..., pool_id: _Optional[str] = ..., bundle_id: _Optional[str] = ..., hash: _Optional[str] = ..., encrypted: _Optional[bool] = ..., expired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error_message: _Optional[str] = ...) -> None: ...

class CreateUploadTaskRequest(_message.Message):
    __slots__ = ("file_name", "file_size", "content_type", "pool_id", "bundle_id", "chunk_size", "encrypt_password", "expired_at", "hash", "request_id")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    ENCRYPT_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_AT_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    file_size: int
    content_type: str
    pool_id: str
    bundle_id: str
    chunk_size: int
    encrypt_password: str
    expired_at: _timestamp_pb2.Timestamp
    hash: str
    request_id: str
    def __init__(self, file_name: _Optional[str] = ..., file_size: _Optional[int] = ..., content_type: _Optional[str] = ..., pool_id: _Optional[str] = ..., bundle_id: _Optional[str] = ..., chunk_size: _Optional[int] = ..., encrypt_password: _Optional[str] = ..., expired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hash: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateUploadTaskResponse(_message.Message):
    __slots__ = ("file_exists", "file", "task_id", "chunk_size", "chunks_count", "resumed", "missing_chunks")
    FILE_EXISTS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    MISSING_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    file_exists: bool
    file: _files_pb2.CloudFile
    task_id: str
    chunk_size: int
    chunks_count: int
    resumed: bool
    missing_chunks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, file_exists: _Optional[bool] = ..., file: _Optional[_Union[_files_pb2.CloudFile, _Mapping]] = ..., task_id: _Optional[str] = ..., chunk_size: _Optional[int] = ..., chunks_count: _Optional[int] = ..., resumed: _Optional[bool] = ..., missing_chunks: _Optional[_Iterable[int]] = ...) -> None: ...

class UploadChunkRequest(_message.Message):
    __slots__ = ("task_id", "chunk_index", "data", "crc32c")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    chunk_index: int
    data: bytes
    crc32c: int
    def __init__(self, task_id: _Optional[str] = ..., chunk_index: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32c: _Optional[int] = ...) -> None: ...

class UploadChunkResponse(_message.Message):
    __slots__ = ("chunks_uploaded", "chunks_count", "progress")
    CHUNKS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    chunks_uploaded: int
    chunks_count: int
    progress: float
    def __init__(self, chunks_uploaded: _Optional[int] = ..., chunks_count: _Optional[int] = ..., progress: _Optional[float] = ...) -> None: ...

class UploadChunksRequest(_message.Message):
    __slots__ = ("task_id", "chunk_index", "data", "crc32c")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    chunk_index: int
    data: bytes
    crc32c: int
    def __init__(self, task_id: _Optional[str] = ..., chunk_index: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32c: _Optional[int] = ...) -> None: ...

class UploadChunksResponse(_message.Message):
    __slots__ = ("chunks_stored", "chunks_skipped", "chunks_uploaded", "chunks_count", "progress")
    CHUNKS_STORED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    chunks_stored: int
    chunks_skipped: int
    chunks_uploaded: int
    chunks_count: int
    progress: float
    def __init__(self, chunks_stored: _Optional[int] = ..., chunks_skipped: _Optional[int] = ..., chunks_uploaded: _Optional[int] = ..., chunks_count: _Optional[int] = ..., progress: _Optional[float] = ...) -> None: ...

class UploadFileRequest(_message.Message):
    __slots__ = ("metadata", "data", "hash")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    metadata: CreateUploadTaskRequest
    data: bytes
    hash: str
    def __init__(self, metadata: _Optional[_Union[CreateUploadTaskRequest, _Mapping]] = ..., data: _Optional[bytes] = ..., hash: _Optional[str] = ...) -> None: ...

class UploadFileResponse(_message.Message):
    __slots__ = ("file_exists", "file", "task_id")
    FILE_EXISTS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    file_exists: bool
    file: _files_pb2.CloudFile
    task_id: str
    def __init__(self, file_exists: _Optional[bool] = ..., file: _Optional[_Union[_files_pb2.CloudFile, _Mapping]] = ..., task_id: _Optional[str] = ...) -> None: ...

class CompleteUploadRequest(_message.Message):
    __slots__ = ("task_id", "hash")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    hash: str
    def __init__(self, task_id: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class CompleteUploadResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: _files_pb2.CloudFile
    def __init__(self, file: _Optional[_Union[_files_pb2.CloudFile, _Mapping]] = ...) -> None: ...

class ListUploadTasksRequest(_message.Message):
    __slots__ = ("status", "sort_by", "sort_descending", "offset", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SORT_BY_FIELD_NUMBER: _ClassVar[int]
    SORT_DESCENDING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: _task_enums_pb2.TaskStatus
    sort_by: str
    sort_descending: bool
    offset: int
    limit: int
    def __init__(self, status: _Optional[_Union[_task_enums_pb2.TaskStatus, str]] = ..., sort_by: _Optional[str] = ..., sort_descending: _Optional[bool] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListUploadTasksResponse(_message.Message):
    __slots__ = ("tasks", "total")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[UploadTask]
    total: int
    def __init__(self, tasks: _Optional[_Iterable[_Union[UploadTask, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class GetUploadProgressRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetUploadProgressResponse(_message.Message):
    __slots__ = ("task_id", "file_name", "file_size", "chunks_count", "chunks_uploaded", "progress", "status", "last_activity", "uploaded_chunks")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    file_name: str
    file_size: int
    chunks_count: int
    chunks_uploaded: int
    progress: float
    status: _task_enums_pb2.TaskStatus
    last_activity: _timestamp_pb2.Timestamp
    uploaded_chunks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_size: _Optional[int] = ..., chunks_count: _Optional[int] = ..., chunks_uploaded: _Optional[int] = ..., progress: _Optional[float] = ..., status: _Optional[_Union[_task_enums_pb2.TaskStatus, str]] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uploaded_chunks: _Optional[_Iterable[int]] = ...) -> None: ...

class GetUploadResumeInfoRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetUploadResumeInfoResponse(_message.Message):
    __slots__ = ("task_id", "file_name", "file_size", "content_type", "chunk_size", "chunks_count", "chunks_uploaded", "uploaded_chunks", "missing_chunks", "progress", "status", "hash", "last_activity")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MISSING_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    file_name: str
    file_size: int
    content_type: str
    chunk_size: int
    chunks_count: int
    chunks_uploaded: int
    uploaded_chunks: _containers.RepeatedScalarFieldContainer[int]
    missing_chunks: _containers.RepeatedScalarFieldContainer[int]
    progress: float
    status: _task_enums_pb2.TaskStatus
    hash: str
    last_activity: _timestamp_pb2.Timestamp
    def __init__(self, task_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_size: _Optional[int] = ..., content_type: _Optional[str] = ..., chunk_size: _Optional[int] = ..., chunks_count: _Optional[int] = ..., chunks_uploaded: _Optional[int] = ..., uploaded_chunks: _Optional[_Iterable[int]] = ..., missing_chunks: _Optional[_Iterable[int]] = ..., progress: _Optional[float] = ..., status: _Optional[_Union[_task_enums_pb2.TaskStatus, str]] = ..., hash: _Optional[str] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CancelUploadTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class CancelUploadTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: UploadTask
    def __init__(self, task: _Optional[_Union[UploadTask, _Mapping]] = ...) -> None: ...

class GetUploadTaskDetailsRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetUploadTaskDetailsResponse(_message.Message):
    __slots__ = ("task", "pool", "bundle", "upload_speed_bytes_per_second", "estimated_seconds_remaining", "upload_speed", "estimated_time_remaining", "uploaded_chunks")
    TASK_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_SPEED_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_SECONDS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_SPEED_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TIME_REMAINING_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    task: UploadTask
    pool: _files_pb2.Pool
    bundle: _files_pb2.Bundle
    upload_speed_bytes_per_second: float
    estimated_seconds_remaining: int
    upload_speed: str
    estimated_time_remaining: str
    uploaded_chunks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task: _Optional[_Union[UploadTask, _Mapping]] = ..., pool: _Optional[_Union[_files_pb2.Pool, _Mapping]] = ..., bundle: _Optional[_Union[_files_pb2.Bundle, _Mapping]] = ..., upload_speed_bytes_per_second: _Optional[float] = ..., estimated_seconds_remaining: _Optional[int] = ..., upload_speed: _Optional[str] = ..., estimated_time_remaining: _Optional[str] = ..., uploaded_chunks: _Optional[_Iterable[int]] = ...) -> None: ...

class CleanupUploadTasksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CleanupUploadTasksResponse(_message.Message):
    __slots__ = ("cleaned_count",)
    CLEANED_COUNT_FIELD_NUMBER: _ClassVar[int]
    cleaned_count: int
    def __init__(self, cleaned_count: _Optional[int] = ...) -> None: ...

class ListRecentUploadTasksRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListRecentUploadTasksResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[UploadTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[UploadTask, _Mapping]]] = ...) -> None: ...
