"""Hostile and careless input, and the server's own edges: requests that do not parse, huge
values echoed into errors, a second server on a taken port, streams at shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from drive_service.app import App
from tests.support import Client, auth, error_reason, new_account, retry_delay, settings_for, token_for

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_bytes_that_do_not_parse_are_invalid_argument_with_error_info(
    server: App, channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = auth(token_for(server.settings, new_account()))
    create = channel.unary_unary("/drive.v1.TaskService/CreateTask")
    chunks = channel.stream_unary("/drive.v1.UploadService/UploadChunks")

    async def one(message: bytes) -> AsyncIterator[bytes]:
        yield message

    for call in (
        create(b"\x12\x02\xff\xfe", metadata=metadata),  # name: invalid UTF-8
        create(b"\x2a\x80\x01", metadata=metadata),  # parameters: 128 bytes announced, none sent
        create(_deep_parameters(200), metadata=metadata),  # deeper than protobuf's recursion limit
        chunks(one(b"\x0a\x02\xff\xfe"), metadata=metadata),  # task_id: invalid UTF-8
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert error_reason(refused.value)[:2] == (INVALID, "MALFORMED_REQUEST")
    assert not [record for record in caplog.records if record.exc_info], "no traceback is logged"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    length, size = b"", len(payload)
    while True:
        length += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
        size >>= 7
        if not size:
            return bytes([number << 3 | 2]) + length + payload


def _deep_parameters(depth: int) -> bytes:
    """CreateTaskRequest bytes whose ``parameters`` Struct nests lists ``depth`` levels deep."""
    value = _field(3, b"x")  # Value.string_value
    for _ in range(depth):
        value = _field(6, _field(1, value))  # Value.list_value -> ListValue.values
    entry = _field(1, b"k") + _field(2, value)  # Struct.fields map entry
    return _field(2, b"deep") + _field(5, _field(1, entry))


async def test_errors_echo_only_a_short_escaped_prefix_of_a_huge_value(client: Client) -> None:
    huge = "\x00evil" + "x" * 5_000_000
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(sort_by=huge), metadata=client.metadata)
    code, reason, metadata = error_reason(refused.value)
    assert (code, reason) == (INVALID, "INVALID_SORT_KEY")
    assert len(refused.value.details() or "") <= 1024 and len(metadata["sortBy"]) <= 128
    assert "\x00" not in metadata["sortBy"] and metadata["sortBy"].startswith("\\x00evil")


async def test_a_type_filter_must_name_a_type(client: Client) -> None:
    request = tasks_pb2.WatchTasksRequest(types=[task_enums_pb2.TASK_TYPE_UNSPECIFIED])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in client.tasks.WatchTasks(request, metadata=client.metadata):
            break
    assert error_reason(refused.value)[:2] == (INVALID, "INVALID_TASK_TYPE")


def _env(data_dir: Path, listen: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DRIVE_", "DATABASE_URL"))}
    env.update(
        {"DRIVE_DATA_DIR": str(data_dir), "DRIVE_LISTEN": listen, "DRIVE_SHUTDOWN_GRACE_SECONDS": "10"}
    )
    return env


async def _start(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drive_service", "serve", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    async with asyncio.timeout(60):
        while line := await process.stderr.readline():
            record = json.loads(line)
            if record.get("message") == "serving":
                return process, int(record["port"])
    raise AssertionError("the server exited before serving")


async def test_a_second_server_on_a_taken_address_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first, _ = await _start(_env(tmp_path / "a", f"127.0.0.1:{port}"))
    try:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "drive_service",
            "serve",
            env=_env(tmp_path / "b", f"127.0.0.1:{port}"),
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1
        lines = errors.decode().strip().splitlines()
        assert lines == [f"drive-service: cannot listen on 127.0.0.1:{port}: Address already in use"]
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 30)


async def test_open_streams_end_at_once_on_sigterm_with_retry_info(tmp_path: Path) -> None:
    env = _env(tmp_path, "127.0.0.1:0")
    env["DRIVE_JWT_SECRET"] = "shutdown-test-secret-that-is-long-enough-0123456789"
    process, port = await _start(env)
    token = token_for(settings_for(tmp_path, DRIVE_JWT_SECRET=env["DRIVE_JWT_SECRET"]), str(uuid.uuid4()))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = tasks_pb2_grpc.TaskServiceStub(channel).WatchTasks(
                tasks_pb2.WatchTasksRequest(), metadata=auth(token)
            )
            await stream.initial_metadata()  # subscribed
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                async for _ in stream:
                    pass
            assert error_reason(ended.value)[:2] == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            assert retry_delay(ended.value) > 0
            assert await asyncio.wait_for(process.wait(), 30) == 0
            assert time.monotonic() - started < 1.0  # not the 10 s grace: only a stream was open
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
