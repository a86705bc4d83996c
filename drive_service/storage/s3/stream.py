"""A ranged GET's body as an async iterator of blocks."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from drive_service.storage.s3.config import DEFAULT_BLOCK_SIZE
from drive_service.storage.s3.errors import guarded, unavailable

if TYPE_CHECKING:
    pass


class _Body(Protocol):
    """What is used of aiobotocore's response body (its published stubs lag behind on ``aclose``)."""

    async def read(self, amt: int | None = None) -> bytes: ...

    async def aclose(self) -> None: ...


class _Chunks(Protocol):
    """aiohttp's ``StreamReader``: ``readchunk`` hands over the received buffers themselves."""

    async def readchunk(self) -> tuple[bytes, bool]: ...


class ObjectStream:
    """Bytes ``[offset, offset + length)`` of one object as an async iterator of blocks.

    Every block is ``block_size`` bytes except the last, which may be shorter (one copy per byte,
    to join what the socket delivered); with ``block_size`` ``None`` blocks are the buffers as
    they arrived (no copy; their size varies, often ~256 KiB on loopback). The total is
    ``length``; ``object_size`` is the whole object's size. Iterating to the end releases the
    connection; leaving early needs ``aclose()`` (or ``async with``). Errors while reading are
    mapped as everywhere else (a cut connection is ``Unavailable``).
    """

    def __init__(
        self,
        body: _Body | None,
        *,
        key: str,
        offset: int,
        length: int,
        object_size: int,
        etag: str,
        block_size: int | None,
    ) -> None:
        self._body = body
        self.key = key
        self.offset = offset
        self.length = length
        self.object_size = object_size
        self.etag = etag
        self._block_size = block_size
        self._remaining = length
        # With aiohttp (aiobotocore's default transport) blocks are cut from the buffers as the
        # socket delivered them, joined once. ``body.read(n)`` would join them first, and the
        # block would be a second copy; it stays the fallback for other transports.
        raw = getattr(body, "raw_stream", None)
        content = getattr(raw, "content", None)
        self._chunks: _Chunks | None = content if hasattr(content, "readchunk") else None
        self._pending: memoryview | None = None  # the part of a buffer past the last block

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._remaining <= 0 or self._body is None:
            await self.aclose()
            raise StopAsyncIteration
        exact = self._block_size is not None
        want = min(self._block_size or DEFAULT_BLOCK_SIZE, self._remaining)
        try:
            if self._chunks is None:
                gather = self._gather(self._body, want, exact)
            else:
                gather = self._cut(self._chunks, want) if exact else self._as_received(self._chunks)
            block = await guarded(gather, "GetObject", self.key)
        except BaseException:
            await self.aclose()
            raise
        if not block or (exact and len(block) < want) or len(block) > self._remaining:
            await self.aclose()
            raise unavailable("GetObject", "the connection ended before the object's end")
        self._remaining -= len(block)
        return block

    @staticmethod
    async def _as_received(chunks: _Chunks) -> bytes:
        """The next buffer the socket delivered, as it is (empty at the end of the body)."""
        while True:
            piece, end_of_http_chunk = await chunks.readchunk()
            if piece or not end_of_http_chunk:
                return piece

    async def _cut(self, chunks: _Chunks, want: int) -> bytes:
        """``want`` bytes (fewer at the end) from the received buffers, joined once."""
        pieces: list[bytes | memoryview] = []
        got = 0
        while got < want:
            if self._pending is not None:
                piece: bytes | memoryview = self._pending
                self._pending = None
            else:
                piece, end_of_http_chunk = await chunks.readchunk()
                if not piece:
                    if end_of_http_chunk:  # a chunked-encoding boundary, not the end
                        continue
                    break
            if got + len(piece) > want:
                view = memoryview(piece)
                piece, self._pending = view[: want - got], view[want - got :]
            pieces.append(piece)
            got += len(piece)
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    @staticmethod
    async def _gather(body: _Body, want: int, exact: bool) -> bytes:
        """``want`` bytes (fewer at the end of the body), or with ``exact`` false whatever one
        read returns, through the body's own ``read``, which hands back what has arrived."""
        if not exact:
            return await body.read(want)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            piece = await body.read(want - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def aclose(self) -> None:
        """Release the connection (closed, not reused, if the body was not read to the end)."""
        body, self._body, self._chunks, self._pending = self._body, None, None, None
        if body is not None:
            await body.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------
