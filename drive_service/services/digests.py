"""SHA-256 of the chunks an upload received in order, so completion need not re-read them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from typing import Any

_log = logging.getLogger(__name__)

#: Data up to this size is hashed on the event loop; a thread hop would cost more than it saves.
_INLINE_HASH = 256 * 1024

#: sha256 objects (hashlib's concrete type is private).
_Hash = Any

#: Bytes-like chunk data (bytes, bytearray or memoryview).
Data = bytes | bytearray | memoryview


class _Prefix:
    """The digest state after chunks [0, next) of one upload; ``hasher`` None means none yet."""

    __slots__ = ("hasher", "lock", "next", "size")

    def __init__(self) -> None:
        self.hasher: _Hash | None = None
        self.next = 0
        self.size = 0
        self.lock = asyncio.Lock()


class PrefixDigests:
    """Per upload, the SHA-256 of its contiguous prefix of chunks that *this process* committed.

    A prefix starts at chunk 0 and grows by one chunk each time this process commits the next
    index; a chunk committed out of order (or an error while hashing) drops it for good, since
    the chunk it skipped can never be fed again. So a prefix that covers all ``chunks_count``
    chunks means every chunk was committed here, with exactly these bytes durable at its offset,
    and nobody can have written the staging file since (each chunk has one receipt). Nothing is
    persisted: after a restart, or for an upload received elsewhere, completion reads the file.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()

    def begin(self, task_id: str, index: int, data: Data) -> Feed | None:
        """Prepare feeding chunk ``index``: None when it can never extend the upload's prefix.

        A chunk that continues the prefix is hashed at once, in a thread, on a copy of the
        state, so the hashing overlaps the durable write; ``Feed.commit`` adopts it. A chunk
        whose predecessors are still being written is hashed at commit, if they came first.
        """
        prefix = self._prefixes.get(task_id)
        if (prefix is None and index != 0) or (prefix is not None and prefix.next != index):
            if prefix is not None and prefix.next > index:
                return None  # that index is in the prefix already: this chunk cannot commit
            return Feed(self, task_id, index, data, base=None, speculative=None)
        base = None if prefix is None else prefix.hasher
        speculative = None
        if len(data) > _INLINE_HASH:
            speculative = asyncio.ensure_future(asyncio.to_thread(_extended, base, data))
        return Feed(self, task_id, index, data, base=base, speculative=speculative)

    def digest(self, task_id: str, chunks_count: int) -> tuple[str, int] | None:
        """(sha256 hex, size) when this process committed every chunk of the upload, in order."""
        prefix = self._prefixes.get(task_id)
        if prefix is None or prefix.hasher is None or prefix.next != chunks_count or prefix.lock.locked():
            return None
        return prefix.hasher.hexdigest(), prefix.size

    def discard(self, task_id: str) -> None:
        """Forget the upload (finished, cancelled, expired or failed)."""
        self._prefixes.pop(task_id, None)

    def _start(self, task_id: str) -> _Prefix:
        prefix = self._prefixes[task_id] = _Prefix()
        while len(self._prefixes) > self._capacity:
            self._prefixes.popitem(last=False)
        return prefix

    def _drop(self, task_id: str, prefix: _Prefix) -> None:
        if self._prefixes.get(task_id) is prefix:
            del self._prefixes[task_id]


class Feed:
    """One chunk on its way into a prefix: ``commit`` after its receipt committed, else ``abandon``."""

    def __init__(
        self,
        digests: PrefixDigests,
        task_id: str,
        index: int,
        data: Data,
        *,
        base: _Hash | None,
        speculative: asyncio.Future[_Hash] | None,
    ) -> None:
        self._digests = digests
        self._task_id = task_id
        self._index = index
        self._data = data
        self._base = base
        self._speculative = speculative

    async def commit(self) -> None:
        """Extend the prefix with this chunk, which this process has just committed.

        Never raises (the chunk is stored whatever happens here): any trouble drops the prefix.
        """
        digests, task_id = self._digests, self._task_id
        prefix = digests._prefixes.get(task_id)
        if prefix is None:
            if self._index != 0:
                self.abandon()
                return
            prefix = digests._start(task_id)
        try:
            async with prefix.lock:
                if prefix.next != self._index:
                    digests._drop(task_id, prefix)  # out of order: this prefix can never be complete
                    self.abandon()
                    return
                if self._speculative is not None and self._base is prefix.hasher:
                    hasher = await self._speculative
                else:
                    self.abandon()
                    hasher = await _extend(prefix.hasher, self._data)
                prefix.hasher = hasher
                prefix.next += 1
                prefix.size += len(self._data)
                digests._prefixes.move_to_end(task_id)
        except BaseException as error:
            digests._drop(task_id, prefix)
            if not isinstance(error, Exception):
                raise
            _log.warning("dropped the running digest of upload %s", task_id, exc_info=error)

    def abandon(self) -> None:
        """The chunk was not committed (or its hash is not needed): let the hashing end unseen."""
        if self._speculative is not None:
            self._speculative.add_done_callback(_consume)
            self._speculative = None


async def _extend(base: _Hash | None, data: Data) -> _Hash:
    if len(data) <= _INLINE_HASH:
        return _extended(base, data)
    return await asyncio.to_thread(_extended, base, data)


def _extended(base: _Hash | None, data: Data) -> _Hash:
    """A new state: ``base`` (never changed in place, others may copy it) plus ``data``."""
    hasher = hashlib.sha256() if base is None else base.copy()
    hasher.update(data)
    return hasher


def _consume(future: asyncio.Future[Any]) -> None:
    with contextlib.suppress(BaseException):
        future.exception()
