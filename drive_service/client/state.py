"""Local resume state: which upload task holds a file's interrupted upload.

One JSON file per (server target, account, file identity), named by a hash of the three, in a
state directory (default ``$XDG_STATE_HOME/drive-service/uploads``, else
``~/.local/state/drive-service/uploads``). Written atomically (temporary file + rename), so an
interrupted write never leaves a corrupt state; a state that cannot be read is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from drive_service.client.source import FileIdentity


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "drive-service" / "uploads"


@dataclass(frozen=True)
class UploadState:
    """What a later run needs to continue an upload: the task and its chunk plan, the declared hash
    (empty when it is given at completion) and the chunks known to be stored."""

    task_id: str
    file_size: int
    chunk_size: int
    chunks_count: int
    sha256: str
    hash_at_completion: bool
    pool_id: str
    bundle_id: str
    stored_chunks: tuple[int, ...] = ()
    updated_at: float = field(default_factory=time.time)


_FIELDS = tuple(item.name for item in fields(UploadState))


class StateStore:
    """Loads, saves and forgets upload states in ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_state_dir()

    @staticmethod
    def key(target: str, account: str, identity: FileIdentity) -> str:
        text = json.dumps([target, account, asdict(identity)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> UploadState | None:
        try:
            raw = json.loads(self.path(key).read_text())
            values = {name: raw[name] for name in _FIELDS if name in raw}
            values["stored_chunks"] = tuple(values.get("stored_chunks", ()))
            return UploadState(**values)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, key: str, state: UploadState, identity: FileIdentity | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = asdict(state)
        if identity is not None:
            record["identity"] = asdict(identity)  # for people reading the folder; ignored on load
        target = self.path(key)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record, sort_keys=True))
        os.replace(temporary, target)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
