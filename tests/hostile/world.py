"""The accounts and resources the hostile requests point at.

The *victim* account is made once per server: tasks, an upload, a file in a bundle, each carrying
``MARKER`` in a name, description, parameter or result, so that a response leaking any of it is
caught by a substring search. Each example's *caller* is a brand-new account (a request that
poisons an account cannot make later examples fail; the boundary cases reuse one only while its
calls are refused), whose own resources are made only when the request refers to them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.protobuf import struct_pb2

from drive.v1 import files_pb2, files_pb2_grpc, tasks_pb2, tasks_pb2_grpc, uploads_pb2, uploads_pb2_grpc
from drive.v1 import task_enums_pb2 as enums
from drive_service.config import Settings
from drive_service.services.tokens import ADMIN_PERMISSION, mint
from tests.hostile.spec import Ref
from tests.support import auth, new_account, token_for

MARKER = "victim-secret-7f3a9c"
CHUNK = 256 * 1024
#: The content of an "own.upload": chunk 0 is stored when it is made, chunk 1 (100 bytes) is not.
UPLOAD_CONTENT = b"a" * CHUNK + b"b" * 100
UPLOAD_SHA256 = hashlib.sha256(UPLOAD_CONTENT).hexdigest()
_TIMEOUT = 30.0
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Stubs:
    """Typed stubs on one channel, for making resources."""

    tasks: tasks_pb2_grpc.TaskServiceStub
    uploads: uploads_pb2_grpc.UploadServiceStub
    files: files_pb2_grpc.FileServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            tasks_pb2_grpc.TaskServiceStub(channel),  # type: ignore[no-untyped-call]
            uploads_pb2_grpc.UploadServiceStub(channel),  # type: ignore[no-untyped-call]
            files_pb2_grpc.FileServiceStub(channel),  # type: ignore[no-untyped-call]
        )


@dataclass
class Account:
    """An account, its bearer metadata (plain and admin), and the ids of its resources by name."""

    account_id: str
    metadata: Metadata
    admin_metadata: Metadata
    ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fresh(cls, settings: Settings) -> Account:
        account_id = new_account()
        admin = mint(settings.jwt, account_id, timedelta(hours=1), perms=[ADMIN_PERMISSION])
        return cls(account_id, auth(token_for(settings, account_id)), auth(admin), {"account": account_id})


def _struct(**values: str) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def make_task(stubs: Stubs, account: Account, name: str, secret: str = "") -> str:
    request = tasks_pb2.CreateTaskRequest(
        type=enums.TaskType.TASK_TYPE_CUSTOM, name=name, description=secret, parameters=_struct(note=secret)
    )
    response = await stubs.tasks.CreateTask(request, metadata=account.metadata, timeout=_TIMEOUT)
    return str(response.task.task_id)


async def make_upload(stubs: Stubs, account: Account, name: str) -> str:
    """An in-progress upload of UPLOAD_CONTENT with chunk 0 of 2 stored."""
    request = uploads_pb2.CreateUploadTaskRequest(
        file_name=name,
        file_size=len(UPLOAD_CONTENT),
        content_type="application/octet-stream",
        chunk_size=CHUNK,
        hash=UPLOAD_SHA256,
    )
    created = await stubs.uploads.CreateUploadTask(request, metadata=account.metadata, timeout=_TIMEOUT)
    first = UPLOAD_CONTENT[:CHUNK]
    chunk = uploads_pb2.UploadChunkRequest(task_id=created.task_id, chunk_index=0, data=first)
    await stubs.uploads.UploadChunk(chunk, metadata=account.metadata, timeout=_TIMEOUT)
    return str(created.task_id)


async def make_file(stubs: Stubs, account: Account, name: str, bundle_id: str = "") -> tuple[str, str]:
    """A stored file (via UploadFile): (file id, its upload task id)."""
    content = f"content of {name}".encode()
    metadata = uploads_pb2.CreateUploadTaskRequest(
        file_name=name,
        file_size=len(content),
        content_type="text/plain",
        bundle_id=bundle_id,
        hash=hashlib.sha256(content).hexdigest(),
    )
    messages = [uploads_pb2.UploadFileRequest(metadata=metadata), uploads_pb2.UploadFileRequest(data=content)]
    response = await stubs.uploads.UploadFile(iter(messages), metadata=account.metadata, timeout=_TIMEOUT)
    return str(response.file.id), str(response.task_id)


async def make_bundle(stubs: Stubs, account: Account, name: str, secret: str = "") -> str:
    request = files_pb2.CreateBundleRequest(name=name, description=secret)
    response = await stubs.files.CreateBundle(request, metadata=account.metadata, timeout=_TIMEOUT)
    return str(response.bundle.id)


async def make_victim(stubs: Stubs, settings: Settings) -> Account:
    """The account whose data no other caller may see or change."""
    victim = Account.fresh(settings)
    ids = victim.ids
    ids["task"] = await make_task(stubs, victim, f"{MARKER} task", MARKER)
    ids["done_task"] = await make_task(stubs, victim, f"{MARKER} done", MARKER)
    done = tasks_pb2.CompleteTaskRequest(task_id=ids["done_task"], results=_struct(note=MARKER))
    await stubs.tasks.CompleteTask(done, metadata=victim.metadata, timeout=_TIMEOUT)
    ids["bundle"] = await make_bundle(stubs, victim, f"{MARKER} bundle", MARKER)
    ids["file"], ids["file_task"] = await make_file(stubs, victim, f"{MARKER}.txt", ids["bundle"])
    ids["upload"] = await make_upload(stubs, victim, f"{MARKER}-upload.bin")
    return victim


async def materialize(stubs: Stubs, caller: Account, wanted: Iterable[Ref]) -> bool:
    """Make the caller's resources that ``wanted`` names and has not made yet; whether it made any."""
    kinds = {ref.name.split(".")[1] for ref in wanted if ref.name.startswith("own.")}
    ids = caller.ids
    had = len(ids)
    if "task" in kinds and "task" not in ids:
        ids["task"] = await make_task(stubs, caller, "own task")
    if "upload" in kinds and "upload" not in ids:
        ids["upload"] = await make_upload(stubs, caller, "own-upload.bin")
    if kinds & {"file", "file_task"} and "file" not in ids:
        ids["file"], ids["file_task"] = await make_file(stubs, caller, "own.txt")
    if "bundle" in kinds and "bundle" not in ids:
        ids["bundle"] = await make_bundle(stubs, caller, "own bundle")
    return len(ids) > had


def resolver(caller: Account, victim: Account, pool_id: str) -> Callable[[Ref], str]:
    """The function that turns a Ref into its id for this example."""

    def resolve(ref: Ref) -> str:
        owner, _, kind = ref.name.partition(".")
        if ref.name == "pool":
            return pool_id
        if ref.name == "own.upload.sha256":
            return UPLOAD_SHA256
        return (caller if owner == "own" else victim).ids[kind]

    return resolve
