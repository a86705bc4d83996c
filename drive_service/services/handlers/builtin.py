"""The handlers that ship with the service, one module each."""

from __future__ import annotations

from drive_service.services.handlers import Handler
from drive_service.services.handlers.bulk import BulkOperationHandler
from drive_service.services.handlers.compress import FileCompressHandler
from drive_service.services.handlers.convert import FileConversionHandler
from drive_service.services.handlers.crypto import FileDecryptHandler, FileEncryptHandler
from drive_service.services.handlers.decompress import FileDecompressHandler
from drive_service.services.handlers.migrate import StorageMigrationHandler
from drive_service.services.handlers.move import FileMoveHandler


def builtin_handlers() -> list[Handler]:
    """A fresh instance of every built-in handler."""
    return [
        FileMoveHandler(),
        FileCompressHandler(),
        FileDecompressHandler(),
        BulkOperationHandler(),
        StorageMigrationHandler(),
        FileEncryptHandler(),
        FileDecryptHandler(),
        FileConversionHandler(),
    ]
