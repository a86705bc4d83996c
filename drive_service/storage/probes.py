"""Liveness probes of storage backends used by the health report."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path


async def directory_writable(path: Path) -> None:
    """Create, fsync and delete a small file in ``path``; raises OSError when that fails."""

    def probe() -> None:
        path.mkdir(parents=True, exist_ok=True)
        target = path / f".probe-{uuid.uuid4().hex}"
        try:
            with target.open("wb") as handle:
                handle.write(b"ok")
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            target.unlink(missing_ok=True)

    await asyncio.to_thread(probe)
