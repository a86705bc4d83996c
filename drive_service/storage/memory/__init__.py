"""In-memory twins of the storage ports, for fast unit tests of the use cases (no database, no
disk, no network). They keep the contracts the SQL and disk stores keep: transactions that roll
back, exactly-once chunk receipts, lease-checked writes, hidden task outputs, refcounted blobs."""

from __future__ import annotations

from drive_service.storage.memory.blobs import MemoryBlobStore
from drive_service.storage.memory.files import MemoryFileStore, MemoryOutputStore
from drive_service.storage.memory.state import MemoryState
from drive_service.storage.memory.tasks import MemoryEventLog, MemoryTaskStore, MemoryWorkerStore
from drive_service.storage.memory.uploads import MemoryUploadStore

__all__ = [
    "MemoryBlobStore",
    "MemoryEventLog",
    "MemoryFileStore",
    "MemoryOutputStore",
    "MemoryState",
    "MemoryTaskStore",
    "MemoryUploadStore",
    "MemoryWorkerStore",
]
