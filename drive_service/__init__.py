"""drive-service: resumable chunked uploads and persistent background tasks over gRPC."""

from __future__ import annotations

__version__ = "0.1.0"
