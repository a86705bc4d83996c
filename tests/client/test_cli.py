"""The client commands of ``drive-service``, run as a subprocess against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import sys
from pathlib import Path

from drive_service.app import App
from tests.support import new_account, token_for
from tests.support.drive_client import private_server, random_file, target_of

KIB, MIB = 1024, 1024 * 1024
SCRIPT = Path(sys.executable).with_name("drive-service")


def cli_env(app: App, tmp_path: Path, token: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DRIVE_")}
    env.update(
        DRIVE_TARGET=target_of(app),
        DRIVE_TOKEN=token or token_for(app.settings, new_account()),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
    )
    return env


async def run(env: dict[str, str], *arguments: str, timeout: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *arguments, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_upload_directory_list_download_and_remove(server: App, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    first = random_file(folder / "a.bin", 700 * KIB)
    second = random_file(folder / "2024" / "b.bin", 10 * KIB)
    code, out, err = await run(env, "upload", str(folder), "--chunk-size", "256K", "--parallel", "2")
    assert (code, err) == (0, "")
    done = re.findall(r"^(\S+): uploaded (\S+) .* sha256 ([0-9a-f]{64})$", out, re.MULTILINE)
    assert [(Path(path).name, digest) for path, _, digest in done] == [
        ("b.bin", hashlib.sha256(second.read_bytes()).hexdigest()),  # sorted: 2024/b.bin first
        ("a.bin", hashlib.sha256(first.read_bytes()).hexdigest()),
    ]
    ids = {Path(path).name: file_id for path, file_id, _ in done}

    code, out, _ = await run(env, "upload", str(first))
    assert code == 0 and f"deduplicated {ids['a.bin']}" in out

    code, out, err = await run(env, "files", "ls")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} == set(ids.values())
    assert "2 of 2 files" in err

    target = tmp_path / "down"
    target.mkdir()
    code, out, _ = await run(env, "download", ids["a.bin"], str(target))
    assert code == 0 and "verified" in out
    assert (target / "a.bin").read_bytes() == first.read_bytes()

    code, out, _ = await run(env, "files", "rm", ids["b.bin"])
    assert (code, out.strip()) == (0, f"deleted {ids['b.bin']}")


async def test_failures_and_usage(server: App, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    code, out, err = await run(env, "tasks", "show", "A" * 21)
    assert (code, out) == (1, "")
    assert err == f"drive-service: TASK_NOT_FOUND: Task {'A' * 21} was not found.\n"

    code, _, err = await run({**env, "DRIVE_TOKEN": ""}, "files", "ls")
    assert code == 2 and "no token" in err
    code, _, err = await run(env, "upload")
    assert code == 2 and "usage:" in err
    code, _, err = await run(env, "upload", str(tmp_path / "missing.bin"))
    assert code == 1 and "no such file" in err


async def test_tasks_commands(server: App, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    code, out, _ = await run(env, "upload", str(random_file(tmp_path / "t.bin", 100 * KIB)))
    assert code == 0
    code, out, err = await run(env, "tasks", "ls", "--type", "file_upload")
    assert code == 0 and "COMPLETED" in out and "1 of 1 tasks" in err
    task_id = out.split()[0]
    code, out, _ = await run(env, "tasks", "wait", task_id, "--timeout", "5")
    assert code == 0 and json.loads(out)["status"] == "COMPLETED"
    code, _, err = await run(env, "tasks", "pause", task_id)
    assert code == 1 and err.startswith("drive-service: INVALID_TASK_STATE: ")

    watcher = await asyncio.create_subprocess_exec(
        str(SCRIPT), "tasks", "watch", "--after", "1", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert watcher.stdout is not None
    line = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 30))
    assert line["sequence"] == 2 and line["taskId"] == task_id
    watcher.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(watcher.wait(), 30) == 130


async def test_interrupted_upload_resumes_on_rerun(backend: str, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) mid-upload exits 130 and keeps the upload; the same command then resumes
    it, sending only what the server lacks, and the stored file has the right SHA-256."""
    env_server = {
        "UPLOAD_MAX_CHUNK_SIZE": str(MIB),
        "UPLOAD_DEFAULT_CHUNK_SIZE": str(MIB),
        "DRIVE_RATE_LIMITS": f"upload_bytes={4 * MIB}/{MIB}",  # 16 MiB take about 4 s
    }
    async with private_server(backend, tmp_path / "var", **env_server) as app:
        env = cli_env(app, tmp_path)
        path = random_file(tmp_path / "large.bin", 16 * MIB)
        command = [str(SCRIPT), "upload", str(path), "--chunk-size", "256K", "--parallel", "2"]
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        while True:  # plain progress lines come every 2 s when stdout is not a terminal
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "the upload ended before it could be interrupted"
            if re.search(r"uploading \d+%", line):
                break
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 130
        assert "interrupted" in (await process.stderr.read()).decode()

        code, out, err = await run(env, *command[1:])
        assert (code, err) == (0, "")
        match = re.search(r": resumed (\S+) 16\.0 MiB in .* sent ([\d.]+) MiB sha256 ([0-9a-f]{64})", out)
        assert match is not None, out
        assert float(match.group(2)) < 16
        assert match.group(3) == hashlib.sha256(path.read_bytes()).hexdigest()
