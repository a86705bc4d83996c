"""Chunk arithmetic without I/O: how a file is cut into chunks, and which cuts a pool accepts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from drive_service.errors import InvalidArgument

MIN_CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How a file of ``file_size`` bytes is cut into ``chunks_count`` chunks of ``chunk_size``."""

    file_size: int
    chunk_size: int

    @property
    def chunks_count(self) -> int:
        """ceil(file_size / chunk_size)."""
        return math.ceil(self.file_size / self.chunk_size)

    def expected_length(self, index: int) -> int:
        """Bytes chunk ``index`` must hold: chunk_size, or the remainder for the last one.

        Raises:
            InvalidArgument: INVALID_CHUNK_INDEX when the index is outside [0, chunks_count).
        """
        if not 0 <= index < self.chunks_count:
            raise InvalidArgument(
                f"Chunk index {index} is outside 0..{self.chunks_count - 1}.",
                reason="INVALID_CHUNK_INDEX",
                field="chunk_index",
                chunk_index=index,
                chunks_count=self.chunks_count,
            )
        if index < self.chunks_count - 1:
            return self.chunk_size
        return self.file_size - self.chunk_size * (self.chunks_count - 1)

    def offset(self, index: int) -> int:
        """Byte offset of chunk ``index`` in the file."""
        return index * self.chunk_size


def chunk_plan(size: int, requested: int, *, default: int, maximum: int) -> ChunkPlan:
    """Choose the chunk size: requested (0 = default) within [256 KiB, maximum], or one whole chunk.

    Raises:
        InvalidArgument: INVALID_CHUNK_SIZE for a negative, too small or too large chunk size.
    """
    chunk = requested or default
    if requested < 0 or chunk > maximum or (chunk < MIN_CHUNK_SIZE and chunk < size):
        raise InvalidArgument(
            f"The chunk size must be between {MIN_CHUNK_SIZE} and {maximum} bytes "
            "(or at least the file size).",
            reason="INVALID_CHUNK_SIZE",
            field="chunk_size",
            chunk_size=requested,
            max_chunk_size=maximum,
        )
    return ChunkPlan(size, min(chunk, size) if chunk >= size else chunk)


def require_stageable(plan: ChunkPlan, *, min_chunk_size: int, max_chunks: int) -> None:
    """Check the plan against the limits of the pool's store (an S3 pool: parts of at least 5 MiB
    but the last, at most 10,000 of them; 0 means no limit).

    Raises:
        InvalidArgument: INVALID_CHUNK_SIZE, naming the pool's limit.
    """
    count = plan.chunks_count
    if count > 1 and plan.chunk_size < min_chunk_size:
        raise InvalidArgument(
            f"This pool stores chunks of at least {min_chunk_size} bytes (but the last): choose a "
            "larger chunk size.",
            reason="INVALID_CHUNK_SIZE",
            field="chunk_size",
            chunk_size=plan.chunk_size,
            min_chunk_size=min_chunk_size,
        )
    if max_chunks and count > max_chunks:
        raise InvalidArgument(
            f"This pool stores at most {max_chunks} chunks per file: choose a larger chunk size.",
            reason="INVALID_CHUNK_SIZE",
            field="chunk_size",
            chunk_size=plan.chunk_size,
            max_chunks=max_chunks,
        )


def size_mismatch(index: int, actual: int, expected: int) -> InvalidArgument:
    """CHUNK_SIZE_MISMATCH for chunk ``index``."""
    return InvalidArgument(
        f"Chunk {index} must be {expected} bytes; got {actual}.",
        reason="CHUNK_SIZE_MISMATCH",
        field="data",
        chunk_index=index,
        expected=expected,
        actual=actual,
    )
