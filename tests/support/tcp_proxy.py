"""A loopback TCP forwarder that a test can cut, stall and restore, to take a real server (an
S3-API server, say) away from the service and give it back with its state intact."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

from tests.support.backends import free_port

_BLOCK = 64 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port`` (``async with`` starts and stops it).

    ``cut()`` closes the listener and every open connection: clients see refused connections.
    ``stall()`` keeps accepting but forwards nothing: clients wait until their own timeouts.
    ``restore()`` forwards again, on the same port.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        await self.restore()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._flowing.set()
        await self.cut()

    async def restore(self) -> None:
        """Listen (again) and forward."""
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port)

    def stall(self) -> None:
        """Accept connections but forward no byte until ``restore``."""
        self._flowing.clear()

    async def cut(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        for pipe in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await pipe
        if server is not None:
            await server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pipe = asyncio.current_task()
        assert pipe is not None
        self._pipes.add(pipe)  # type: ignore[arg-type]
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            self._pipes.discard(pipe)  # type: ignore[arg-type]
            return
        try:
            await asyncio.gather(self._copy(reader, target_writer), self._copy(target_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for end in (writer, target_writer):
                end.close()
            self._pipes.discard(pipe)  # type: ignore[arg-type]

    async def _copy(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        while block := await source.read(_BLOCK):
            await self._flowing.wait()
            target.write(block)
            await target.drain()
        target.write_eof()
