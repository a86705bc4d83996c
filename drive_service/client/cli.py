"""The client commands of ``drive-service``: upload, download, files, tasks.

``add_commands`` adds them to the main parser; ``run`` executes a parsed client command. The
server is ``--target`` (else DRIVE_TARGET, else 127.0.0.1:50051) and the bearer token ``--token``
(else DRIVE_TOKEN). Exit status: 0 done, 1 a call failed (its reason and message on one line on
stderr), 2 usage, 130 interrupted (an interrupted upload resumes when the same command runs again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from drive_service.client.aio import AsyncDriveClient
from drive_service.client.channel import ChannelOptions
from drive_service.client.cli_progress import TransferView, human_size
from drive_service.client.errors import DriveClientError
from drive_service.client.models import Task, TaskStatus, TaskType, UploadResult

Command = Callable[[AsyncDriveClient, argparse.Namespace], Awaitable[int]]
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


def add_commands(commands: Any) -> None:
    """Add the client commands to the main parser's subparsers (``commands``)."""
    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument("--target", help="server HOST:PORT (default: $DRIVE_TARGET or 127.0.0.1:50051)")
    group.add_argument("--token", help="bearer token (default: $DRIVE_TOKEN)")
    group.add_argument("--tls", action="store_true", help="use TLS (implied by --ca-cert/--client-cert)")
    group.add_argument("--ca-cert", type=Path, help="PEM root certificates (default: the system's)")
    group.add_argument("--client-cert", type=Path, help="PEM client certificate chain (mutual TLS)")
    group.add_argument("--client-key", type=Path, help="PEM private key of --client-cert")
    group.add_argument("--server-name", help="name to check in the server certificate")

    upload = commands.add_parser(
        "upload", parents=[connection], help="upload files and directories (resumable, with progress)"
    )
    upload.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files; directories recursively")
    upload.add_argument("--pool", default="", help="pool id (default: the server's default pool)")
    upload.add_argument("--bundle", default="", help="bundle id to put the files in")
    upload.add_argument("--parallel", type=int, default=4, help="parallel chunk streams per file (default 4)")
    upload.add_argument("--chunk-size", type=_size, default=0, help="e.g. 5M, 8MiB (default: the server's)")
    upload.add_argument("--content-type", help="MIME type (default: guessed from each name)")
    upload.add_argument(
        "--hash-while-sending",
        action="store_true",
        help="read each file once, giving its SHA-256 at completion (when the server accepts it)",
    )
    upload.add_argument("--state-dir", type=Path, help="where resume state is kept")
    upload.set_defaults(client_command=_upload)

    download = commands.add_parser("download", parents=[connection], help="download a file (resumable)")
    download.add_argument("file_id", metavar="FILE_ID")
    download.add_argument("path", nargs="?", type=Path, metavar="PATH", help="default: the file's name")
    download.add_argument("--password", help="password of an encrypted file")
    download.set_defaults(client_command=_download)

    files = commands.add_parser("files", help="list or delete files").add_subparsers(
        dest="files_command", required=True
    )
    listing = files.add_parser("ls", parents=[connection], help="list files")
    listing.add_argument("--pool", default="")
    listing.add_argument("--bundle", default="")
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(client_command=_files_ls)
    remove = files.add_parser("rm", parents=[connection], help="delete files")
    remove.add_argument("file_ids", nargs="+", metavar="FILE_ID")
    remove.set_defaults(client_command=_files_rm)

    tasks = commands.add_parser("tasks", help="list, follow and control tasks").add_subparsers(
        dest="tasks_command", required=True
    )
    tasks_ls = tasks.add_parser("ls", parents=[connection], help="list tasks (newest activity first)")
    tasks_ls.add_argument("--type", type=_enum(TaskType), help="e.g. file_upload, custom")
    tasks_ls.add_argument("--status", type=_enum(TaskStatus), help="e.g. in_progress, completed")
    tasks_ls.add_argument("--offset", type=int, default=0)
    tasks_ls.add_argument("--limit", type=int, default=50)
    tasks_ls.set_defaults(client_command=_tasks_ls)
    for name, helptext, command in (
        ("show", "print one task as JSON", _tasks_show),
        ("pause", "pause a task", _tasks_pause),
        ("resume", "resume a paused task", _tasks_resume),
        ("cancel", "cancel a task", _tasks_cancel),
    ):
        single = tasks.add_parser(name, parents=[connection], help=helptext)
        single.add_argument("task_id", metavar="TASK_ID")
        single.set_defaults(client_command=command)
    wait = tasks.add_parser("wait", parents=[connection], help="wait until a task is finished")
    wait.add_argument("task_id", metavar="TASK_ID")
    wait.add_argument("--timeout", type=float, default=None, help="seconds (default: no limit)")
    wait.set_defaults(client_command=_tasks_wait)
    watch = tasks.add_parser("watch", parents=[connection], help="print task events as JSON lines")
    watch.add_argument("--after", type=int, default=0, help="replay events after this sequence first")
    watch.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    watch.set_defaults(client_command=_tasks_watch)


def run(args: argparse.Namespace) -> int:
    """Run the parsed client command; returns the exit status."""
    try:
        client_options = _connection(args)
    except UsageError as error:
        print(f"drive-service: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, *client_options))
    except KeyboardInterrupt:
        print("drive-service: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
    except DriveClientError as error:
        print(f"drive-service: {error.reason}: {error.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"drive-service: {error}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, target: str, token: str, options: ChannelOptions) -> int:
    command: Command = args.client_command
    async with AsyncDriveClient(target, token, channel=options) as client:
        return await command(client, args)


def _connection(args: argparse.Namespace) -> tuple[str, str, ChannelOptions]:
    target = args.target or os.environ.get("DRIVE_TARGET") or "127.0.0.1:50051"
    token = args.token or os.environ.get("DRIVE_TOKEN")
    if not token:
        raise UsageError("no token: pass --token or set DRIVE_TOKEN (see `drive-service token`)")
    try:
        options = ChannelOptions.from_files(
            ca_cert=args.ca_cert,
            client_cert=args.client_cert,
            client_key=args.client_key,
            tls=args.tls,
            server_name=args.server_name,
        )
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from error
    return target, token, options


# -- upload / download -----------------------------------------------------------------------------


async def _upload(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    files = list(_expand(args.paths))
    total = sum(path.stat().st_size for path in files)
    with TransferView(total, len(files), "uploading") as view:
        for path in files:
            size = path.stat().st_size
            view.start(path.name, size)
            started = time.monotonic()
            result = await client.upload(
                path,
                pool_id=args.pool,
                bundle_id=args.bundle,
                content_type=args.content_type,
                chunk_size=args.chunk_size,
                parallel=args.parallel,
                progress=view.update,
                state_dir=args.state_dir,
                hash_while_sending=args.hash_while_sending,
            )
            view.finish(_upload_summary(path, result, time.monotonic() - started))
    return 0


def _upload_summary(path: Path, result: UploadResult, seconds: float) -> str:
    how = "deduplicated" if result.deduplicated else "resumed" if result.resumed else "uploaded"
    sent = f", sent {human_size(result.bytes_sent)}" if result.resumed else ""
    return (
        f"{path}: {how} {result.file.id} {human_size(result.file.size)} in {seconds:.1f} s{sent} "
        f"sha256 {result.file.hash}"
    )


def _expand(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(child for child in path.rglob("*") if child.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")


async def _download(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    file = await client.get_file(args.file_id)
    path: Path = args.path or Path(file.name)
    if await asyncio.to_thread(path.is_dir):
        path = path / file.name
    with TransferView(file.size, 1, "downloading") as view:
        view.start(file.name, file.size)
        result = await client.download(args.file_id, path, password=args.password, progress=view.transferred)
        check = f"sha256 {file.hash} verified" if result.verified else "encrypted: not verified"
        resumed = f" (resumed at {human_size(result.resumed_from)})" if result.resumed_from else ""
        view.finish(f"{result.path}: downloaded {human_size(file.size)}{resumed}, {check}")
    return 0


# -- files -----------------------------------------------------------------------------------------


async def _files_ls(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    page = await client.list_files(
        pool_id=args.pool, bundle_id=args.bundle, offset=args.offset, limit=args.limit
    )
    for file in page.items:
        print(f"{file.id}  {file.size:>12}  {file.hash[:12]}  {file.mime_type:24}  {file.name}")
    print(f"{len(page.items)} of {page.total} files", file=sys.stderr)
    return 0


async def _files_rm(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    for file_id in args.file_ids:
        await client.delete_file(file_id)
        print(f"deleted {file_id}")
    return 0


# -- tasks -----------------------------------------------------------------------------------------


async def _tasks_ls(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    page = await client.list_tasks(type=args.type, status=args.status, offset=args.offset, limit=args.limit)
    for task in page.items:
        print(f"{task.task_id}  {task.type.name:17} {task.status.name:11} {task.progress:5.1f}%  {task.name}")
    print(f"{len(page.items)} of {page.total} tasks", file=sys.stderr)
    return 0


async def _tasks_show(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    _print_task(await client.get_task(args.task_id))
    return 0


async def _tasks_pause(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    _print_task(await client.pause_task(args.task_id))
    return 0


async def _tasks_resume(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    _print_task(await client.resume_task(args.task_id))
    return 0


async def _tasks_cancel(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    _print_task(await client.cancel_task(args.task_id))
    return 0


async def _tasks_wait(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    task = await client.wait(args.task_id, args.timeout)
    _print_task(task)
    if task.status is not TaskStatus.COMPLETED:
        print(
            f"drive-service: TASK_{task.status.name}: {task.error_message or task.status.name}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _tasks_watch(client: AsyncDriveClient, args: argparse.Namespace) -> int:
    async for event in client.watch(args.after, task_ids=args.task):
        record = {"sequence": event.sequence, "type": event.type, "taskId": event.task_id, "data": event.data}
        print(json.dumps(record, default=str), flush=True)
    return 0


def _print_task(task: Task) -> None:
    record = asdict(task)
    record["type"], record["status"] = task.type.name, task.status.name
    print(json.dumps(record, default=str, indent=2))


# -- argument types --------------------------------------------------------------------------------


def _size(text: str) -> int:
    """A byte size: 262144, 256K, 5M, 5MiB, 1G (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("use a number with an optional K, M or G suffix (e.g. 5M)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _enum(kind: type[TaskType] | type[TaskStatus]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind[text.strip().upper().replace("-", "_")]
        except KeyError:
            names = ", ".join(member.name.lower() for member in kind if member.value)
            raise argparse.ArgumentTypeError(f"one of {names}") from None

    return parse
