"""The real `drive-service` process: token minting, serving, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc


def _env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DRIVE_", "DATABASE_URL"))}
    env.update(
        {"DRIVE_DATA_DIR": str(data_dir), "DRIVE_LISTEN": "127.0.0.1:0", "DRIVE_SHUTDOWN_GRACE_SECONDS": "5"}
    )
    return env


async def test_serve_token_and_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path)
    account = str(uuid.uuid4())
    minted = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drive_service",
        "token",
        "--account",
        account,
        "--ttl",
        "5m",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    token = (await minted.communicate())[0].decode().strip()
    assert minted.returncode == 0 and token.count(".") == 2
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drive_service", "serve", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        port = await asyncio.wait_for(_serving_port(server), 60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            created = await tasks_pb2_grpc.TaskServiceStub(channel).CreateTask(
                tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="from a process"),
                metadata=(("authorization", f"Bearer {token}"),),
            )
            assert created.task.account_id == account
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 30) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def _serving_port(server: asyncio.subprocess.Process) -> int:
    assert server.stderr is not None
    while line := await server.stderr.readline():
        record = json.loads(line)
        if record.get("message") == "serving":
            return int(record["port"])
    raise AssertionError("the server exited before serving")
