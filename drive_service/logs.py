"""Structured logging: one JSON object per line on stderr, levels from ``LOG_LEVEL``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from drive_service import audit

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Renders a record and its ``extra`` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(levels: dict[str, int], audit_file: Path | None = None) -> None:
    """Install the JSON handler on the root logger and apply per-logger levels ("" is root). The
    audit trail logs at INFO whatever the root level (unless ``levels`` names it), to
    ``audit_file`` alone when given."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    trail = logging.getLogger(audit.LOGGER)
    trail.setLevel(logging.INFO)
    trail.handlers.clear()
    trail.propagate = audit_file is None
    if audit_file is not None:
        audit_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(audit_file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        trail.addHandler(to_file)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
