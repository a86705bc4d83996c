"""What an upload reads: a file path or a seekable binary stream, read at given offsets."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_FINGERPRINT_SPAN = 64 * 1024


@dataclass(frozen=True)
class FileIdentity:
    """What makes a file "the same file" for resuming (like tus-js-client's fingerprint): its path,
    size, modification time and a fingerprint of its first and last 64 KiB. A file changed since
    the interrupted upload gets a new identity and starts a new upload."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str


class UploadSource:
    """Random access to the bytes being uploaded. ``read_at`` is blocking (call it in a thread) and
    safe from several threads at once. Close it when done (a path is opened here and closed by
    ``close``; a caller's stream is left open)."""

    def __init__(self, name: str, size: int, identity: FileIdentity | None) -> None:
        self.name = name
        self.size = size
        self.identity = identity

    @staticmethod
    def open(source: str | os.PathLike[str] | BinaryIO, name: str | None = None) -> UploadSource:
        """A source for a path (identity known: resumable from the state file) or a seekable binary
        stream (no identity: resumed only through the server's lookup by hash)."""
        if isinstance(source, str | os.PathLike):
            return _PathSource(Path(source), name)
        return _StreamSource(source, name)

    def read_at(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``open`` acquired."""

    def content_type(self) -> str:
        """The MIME type guessed from the name; application/octet-stream when unknown."""
        guessed, _ = mimetypes.guess_type(self.name)
        return guessed or "application/octet-stream"


class _PathSource(UploadSource):
    def __init__(self, path: Path, name: str | None) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        try:
            stat = os.fstat(self._fd)
            if not _is_regular(stat.st_mode):
                raise IsADirectoryError(f"{path} is not a regular file")
            super().__init__(name or path.name, stat.st_size, None)
            self.identity = FileIdentity(
                path=str(path.resolve()),
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                fingerprint=self._fingerprint(),
            )
        except BaseException:
            os.close(self._fd)
            raise

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(self.size.to_bytes(8, "little"))
        span = min(_FINGERPRINT_SPAN, self.size)
        digest.update(self.read_at(0, span))
        digest.update(self.read_at(self.size - span, span))
        return digest.hexdigest()[:32]

    def read_at(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        while len(data) < length:  # pread may return less; an early end means the file shrank
            more = os.pread(self._fd, length - len(data), offset + len(data))
            if not more:
                raise OSError(f"{self.name} ended at {offset + len(data)} bytes, expected {self.size}")
            data += more
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _StreamSource(UploadSource):
    def __init__(self, stream: BinaryIO, name: str | None) -> None:
        if not stream.seekable():
            raise ValueError("upload needs a seekable binary stream (its size is declared first)")
        self._stream = stream
        self._lock = threading.Lock()
        self._start = stream.tell()
        size = stream.seek(0, io.SEEK_END) - self._start
        stream.seek(self._start)
        super().__init__(name or Path(getattr(stream, "name", "") or "upload.bin").name, size, None)

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:  # seek + read must not interleave between threads
            self._stream.seek(self._start + offset)
            data = self._stream.read(length)
        if len(data) != length:
            raise OSError(f"the stream ended at {offset + len(data)} bytes, expected {self.size}")
        return data


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
