"""A TCP relay on loopback that can freeze one HTTP request mid-body (the way to catch a server
process in the middle of writing a chunk to the object store, and kill it there), stall all
traffic, or cut it off and restore it on the same port (an outage that keeps the store's state).

``TcpRelay(port)`` listens on a free 127.0.0.1 port and copies bytes both ways between each client
connection and a new connection to ``127.0.0.1:port``. ``hold(pattern, body_bytes)`` arms it once:
the first request whose head matches ``pattern`` gets its head and then ``body_bytes`` of its
body through, and nothing more; the relay keeps reading (and dropping) what the client sends, and
when the client goes away it closes the upstream side, so the upstream server sees a request cut
short. Answers (upstream to client) are never held. ``stall()`` keeps accepting but forwards no
byte either way until ``restore()``; ``cut()`` stops listening and drops every connection (clients
see refused connections) until ``restore()`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from types import TracebackType
from typing import Self

_READ = 64 * 1024
#: Bytes of the stream kept between reads so that a pattern split across two reads still matches.
_OVERLAP = 512
_HEAD_END = b"\r\n\r\n"


class _Hold:
    """One armed hold: which request, how much of its body passes, and whether it has struck."""

    def __init__(self, pattern: re.Pattern[bytes], body_bytes: int) -> None:
        self.pattern = pattern
        self.body_bytes = body_bytes
        self.claimed = False  # a connection carries the matching request
        self.held = asyncio.Event()  # that request is frozen


class TcpRelay:
    """A relay in front of ``127.0.0.1:upstream_port`` (``async with`` starts and closes it)."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._hold: _Hold | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._flowing.set()
        await self.cut()

    def stall(self) -> None:
        """Accept connections but pass no byte, either way, until ``restore``."""
        self._flowing.clear()

    async def cut(self) -> None:
        """Stop listening and drop every connection, until ``restore``."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for pump in list(self._pumps):
            pump.cancel()
        if self._pumps:
            await asyncio.wait(self._pumps)
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        """Pass bytes again, listening again on the same port after a ``cut``."""
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port)

    def hold(self, pattern: bytes, body_bytes: int) -> asyncio.Event:
        """Freeze the next request whose head matches the regular expression ``pattern`` after
        ``body_bytes`` of its body; the event is set once it is frozen."""
        self._hold = _Hold(re.compile(pattern), body_bytes)
        return self._hold.held

    def release(self) -> None:
        """Disarm: requests from now on pass whole (a request already frozen stays frozen)."""
        self._hold = None

    async def _connected(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            client_writer.close()
            return
        pumps = [
            asyncio.create_task(self._requests(client_reader, upstream_writer)),
            asyncio.create_task(self._copy(upstream_reader, client_writer)),
        ]
        self._pumps.update(pumps)
        try:
            # Either side ending ends the connection: a killed client must cut its request short.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps)
            self._pumps.difference_update(pumps)
            for writer in (upstream_writer, client_writer):
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy client bytes upstream, unless the armed hold matches a request on this connection."""

        async def send(data: bytes) -> None:
            if data:
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()

        seen = b""  # the tail of what passed, so that a pattern split across reads still matches
        hold: _Hold | None = None  # the hold this connection claimed
        head = b""  # the matching request from its match on, while its head is incomplete
        sent = 0  # bytes of ``head`` already passed
        allowance: int | None = None  # bytes of the next data that may still pass
        with contextlib.suppress(OSError):
            while data := await reader.read(_READ):
                if hold is None:
                    armed = self._hold
                    match = None
                    if armed is not None and not armed.claimed:
                        match = armed.pattern.search(seen + data)
                    if armed is None or match is None:
                        seen = (seen + data)[-_OVERLAP:]
                        await send(data)
                        continue
                    hold, armed.claimed = armed, True
                    head = (seen + data)[match.start() :]
                    sent = max(len(seen) - match.start(), 0)
                    cut = max(match.start() - len(seen), 0)
                    await send(data[:cut])  # what came before the matching request
                    data = data[cut:]
                elif allowance is None:
                    head += data
                if allowance is None:
                    end = head.find(_HEAD_END)
                    if end < 0:  # the head is still arriving: it passes
                        await send(data)
                        sent += len(data)
                        continue
                    allowance = end + len(_HEAD_END) + hold.body_bytes - sent
                passing = data[: max(allowance, 0)]
                allowance -= len(passing)
                await send(passing)
                if allowance <= 0:
                    hold.held.set()  # frozen: the rest is read and dropped until the client goes

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_READ):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
