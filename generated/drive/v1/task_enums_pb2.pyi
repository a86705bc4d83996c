from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class TaskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_TYPE_UNSPECIFIED: _ClassVar[TaskType]
    TASK_TYPE_FILE_UPLOAD: _ClassVar[TaskType]
    TASK_TYPE_FILE_MOVE: _ClassVar[TaskType]
    TASK_TYPE_FILE_COMPRESS: _ClassVar[TaskType]
    TASK_TYPE_FILE_DECOMPRESS: _ClassVar[TaskType]
    TASK_TYPE_FILE_ENCRYPT: _ClassVar[TaskType]
    TASK_TYPE_FILE_DECRYPT: _ClassVar[TaskType]
    TASK_TYPE_BULK_OPERATION: _ClassVar[TaskType]
    TASK_TYPE_STORAGE_MIGRATION: _ClassVar[TaskType]
    TASK_TYPE_FILE_CONVERSION: _ClassVar[TaskType]
    TASK_TYPE_CUSTOM: _ClassVar[TaskType]

class TaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATUS_UNSPECIFIED: _ClassVar[TaskStatus]
    TASK_STATUS_PENDING: _ClassVar[TaskStatus]
    TASK_STATUS_IN_PROGRESS: _ClassVar[TaskStatus]
    TASK_STATUS_PAUSED: _ClassVar[TaskStatus]
    TASK_STATUS_COMPLETED: _ClassVar[TaskStatus]
    TASK_STATUS_FAILED: _ClassVar[TaskStatus]
    TASK_STATUS_CANCELLED: _ClassVar[TaskStatus]
    TASK_STATUS_EXPIRED: _ClassVar[TaskStatus]
TASK_TYPE_UNSPECIFIED: TaskType
TASK_TYPE_FILE_UPLOAD: TaskType
TASK_TYPE_FILE_MOVE: TaskType
TASK_TYPE_FILE_COMPRESS: TaskType
TASK_TYPE_FILE_DECOMPRESS: TaskType
TASK_TYPE_FILE_ENCRYPT: TaskType
TASK_TYPE_FILE_DECRYPT: TaskType
TASK_TYPE_BULK_OPERATION: TaskType
TASK_TYPE_STORAGE_MIGRATION: TaskType
TASK_TYPE_FILE_CONVERSION: TaskType
TASK_TYPE_CUSTOM: TaskType
TASK_STATUS_UNSPECIFIED: TaskStatus
TASK_STATUS_PENDING: TaskStatus
TASK_STATUS_IN_PROGRESS: TaskStatus
TASK_STATUS_PAUSED: TaskStatus
TASK_STATUS_COMPLETED: TaskStatus
TASK_STATUS_FAILED: TaskStatus
TASK_STATUS_CANCELLED: TaskStatus
TASK_STATUS_EXPIRED: TaskStatus
