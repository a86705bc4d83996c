"""The upload use case: resume or create, send the missing chunks in passes, complete.

Order of business for one file:

1. **Resume from the state file** (path sources): if a state names a task for this server,
   account and file identity, ask GetUploadResumeInfo; an IN_PROGRESS task with the same chunk
   plan is continued with only its missing chunks. This needs no CreateUploadTask, so a server
   without in-flight lookup never gets a second task for the file.
2. Otherwise **create**: hash first (default), or declare an empty hash and hash while sending
   when asked to and the server takes it (learned by trying: an INVALID_HASH answer turns the mode
   off for the connection). Each create call has a fresh ``request_id`` (AIP-155), repeated on its
   retries. A dedup answer ends the upload; ``resumed = true`` continues an upload in flight with
   its ``missing_chunks``. The state file is written as soon as the task exists.
3. **Passes** (see ``sender``) until nothing is missing; after a transient failure, back off,
   ask GetUploadResumeInfo and send what is still missing.
4. **Complete** (with the hash when it was not declared), then forget the state.

Cancellation (asyncio cancel, Ctrl-C) leaves the task in flight and the state file up to date, so
the same call later resumes without re-sending stored chunks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import drive_service.client.convert as convert
from drive.v1 import uploads_pb2
from drive_service.client.connection import Connection
from drive_service.client.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    RetryableError,
)
from drive_service.client.hashing import RunningHash, sha256_of
from drive_service.client.models import CloudFile, TaskStatus, UploadProgress, UploadResult
from drive_service.client.retry import Retrier, RetryPolicy
from drive_service.client.sender import ChunkPlan, PassOutcome, SendPass
from drive_service.client.source import UploadSource
from drive_service.client.state import StateStore, UploadState

MIB = 1024 * 1024
ProgressCallback = Callable[[UploadProgress], None]


@dataclass(frozen=True)
class UploadOptions:
    """Per-upload settings. ``chunk_size`` 0 = the server's default (5 MiB). ``parallel`` streams
    share the chunks; each chunk travels as pieces of ``piece_size`` bytes. ``hash_while_sending``
    declares no hash at create and gives it at completion (one read of the file) when the server
    accepts that; otherwise the file is hashed first (dedup before any byte is sent). ``resume``
    uses the state file in ``state_dir`` (default: see ``state.default_state_dir``)."""

    pool_id: str = ""
    bundle_id: str = ""
    content_type: str | None = None
    chunk_size: int = 0
    parallel: int = 4
    piece_size: int = MIB
    name: str | None = None
    password: str | None = None
    expired_at: datetime | None = None
    hash_while_sending: bool = False
    resume: bool = True
    state_dir: Path | None = None


@dataclass
class _Session:
    task_id: str
    plan: ChunkPlan
    missing: set[int]
    sha256: str  # declared at create; "" = given at completion
    resumed: bool


class Upload:
    """One upload of one source; ``run`` once."""

    def __init__(
        self,
        connection: Connection,
        source: UploadSource,
        options: UploadOptions,
        policy: RetryPolicy,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._conn = connection
        self._source = source
        self._options = options
        self._retrier = Retrier(policy)
        self._progress = progress
        self._store = StateStore(options.state_dir)
        identity = source.identity if options.resume else None
        self._key = StateStore.key(connection.target, connection.account, identity) if identity else None
        self._sent = PassOutcome()
        self._stored_bytes = 0  # bytes of chunks known stored before the current pass
        self._pass_bytes = 0

    async def run(self) -> UploadResult:
        session = await self._resume_from_state()
        if session is None:
            created = await self._create()
            if isinstance(created, CloudFile):
                self._forget()
                self._report("done", self._source.size, 1, 1)
                return self._result(created, None, deduplicated=True, resumed=False, count=0, during=False)
            session = created
        try:
            file = await self._finish(session)
        except asyncio.CancelledError:
            self._save(session)  # the task stays in flight: the next run resumes it
            raise
        self._forget()
        during = session.sha256 == ""
        return self._result(
            file,
            session.task_id,
            deduplicated=False,
            resumed=session.resumed,
            count=session.plan.chunks_count,
            during=during,
        )

    # -- 1. resume ---------------------------------------------------------------------------

    async def _resume_from_state(self) -> _Session | None:
        saved = self._store.load(self._key) if self._key else None
        if saved is None:
            return None
        try:
            info = await self._resume_info(saved.task_id)
        except NotFoundError:
            info = None
        usable = (
            info is not None
            and info.status == TaskStatus.IN_PROGRESS.value
            and info.file_size == self._source.size == saved.file_size
            and info.chunk_size == saved.chunk_size
            and (not saved.sha256 or info.hash == saved.sha256)
        )
        if not usable or info is None:
            self._forget()
            return None
        plan = ChunkPlan(info.file_size, info.chunk_size, info.chunks_count)
        return _Session(
            saved.task_id,
            plan,
            set(info.missing_chunks),
            "" if saved.hash_at_completion else saved.sha256,
            resumed=True,
        )

    async def _resume_info(self, task_id: str) -> uploads_pb2.GetUploadResumeInfoResponse:
        request = uploads_pb2.GetUploadResumeInfoRequest(task_id=task_id)
        info: uploads_pb2.GetUploadResumeInfoResponse = await self._retrier.call(
            lambda: self._conn.uploads[0].GetUploadResumeInfo(request, metadata=self._conn.metadata)
        )
        return info

    # -- 2. create ---------------------------------------------------------------------------

    async def _create(self) -> _Session | CloudFile:
        during = self._options.hash_while_sending and self._conn.accepts_empty_hash is not False
        if during:
            try:
                response = await self._create_call("")
                self._conn.accepts_empty_hash = True
            except InvalidArgumentError as error:
                if error.reason != "INVALID_HASH" and error.metadata.get("field") != "hash":
                    raise
                self._conn.accepts_empty_hash = False  # an older server: hash first from now on
                during = False
        if not during:
            sha256 = await sha256_of(self._source, lambda done: self._report("hashing", done, 0, 0))
            response = await self._create_call(sha256)
        if response.file_exists:
            return convert.cloud_file(response.file)
        plan = ChunkPlan(self._source.size, response.chunk_size, response.chunks_count)
        missing = set(response.missing_chunks) if response.resumed else set(range(plan.chunks_count))
        session = _Session(response.task_id, plan, missing, "" if during else sha256, response.resumed)
        self._save(session)
        return session

    async def _create_call(self, sha256: str) -> uploads_pb2.CreateUploadTaskResponse:
        options = self._options
        request = uploads_pb2.CreateUploadTaskRequest(
            file_name=options.name or self._source.name,
            file_size=self._source.size,
            content_type=options.content_type or self._source.content_type(),
            pool_id=options.pool_id,
            bundle_id=options.bundle_id,
            chunk_size=options.chunk_size,
            encrypt_password=options.password or "",
            expired_at=convert.to_timestamp(options.expired_at),
            hash=sha256,
            request_id=str(uuid.uuid4()),  # one per create; its retries repeat it
        )
        response: uploads_pb2.CreateUploadTaskResponse = await self._retrier.call(
            lambda: self._conn.uploads[0].CreateUploadTask(request, metadata=self._conn.metadata)
        )
        return response

    # -- 3. passes, 4. complete ----------------------------------------------------------------

    async def _finish(self, session: _Session) -> CloudFile:
        hasher = RunningHash() if session.sha256 == "" else None
        while True:
            await self._send_missing(session, hasher)
            self._report(
                "completing", self._source.size, session.plan.chunks_count, session.plan.chunks_count
            )
            try:
                return await self._complete(session, hasher)
            except FailedPreconditionError as error:
                if error.reason != "CHUNKS_MISSING":
                    raise
                info = await self._resume_info(session.task_id)  # lost chunks: send them again
                session.missing = set(info.missing_chunks)

    async def _send_missing(self, session: _Session, hasher: RunningHash | None) -> None:
        plan = session.plan
        failures = 0
        while session.missing or (hasher is not None and hasher.next_chunk < plan.chunks_count):
            self._stored_bytes = self._source.size - plan.bytes_of(session.missing)
            self._pass_bytes = 0
            self._report(
                "uploading", self._stored_bytes, plan.chunks_count - len(session.missing), plan.chunks_count
            )
            sender = SendPass(
                self._conn.uploads,
                self._conn.metadata,
                session.task_id,
                plan,
                self._source,
                parallel=self._options.parallel,
                piece_size=self._options.piece_size,
                on_sent=lambda size: self._on_sent(size, session),
            )
            try:
                outcome = await sender.run(session.missing, hasher)
                session.missing = set()
            except RetryableError as error:
                outcome = sender.outcome
                before = len(session.missing)
                failures += 1
                if failures >= self._retrier.policy.max_attempts:
                    raise
                await self._retrier.wait(failures - 1, error)
                info = await self._resume_info(session.task_id)
                session.missing = set(info.missing_chunks)
                self._save(session)
                if len(session.missing) < before:
                    failures = 0  # progress was made: a long upload survives many short outages
            self._sent.stored += outcome.stored
            self._sent.skipped += outcome.skipped
            self._sent.chunks_sent += outcome.chunks_sent
            self._sent.bytes_sent += outcome.bytes_sent

    def _on_sent(self, size: int, session: _Session) -> None:
        self._pass_bytes += size
        done = min(self._source.size, self._stored_bytes + self._pass_bytes)
        self._report(
            "uploading", done, session.plan.chunks_count - len(session.missing), session.plan.chunks_count
        )

    async def _complete(self, session: _Session, hasher: RunningHash | None) -> CloudFile:
        request = uploads_pb2.CompleteUploadRequest(
            task_id=session.task_id, hash=hasher.hexdigest() if hasher is not None else ""
        )
        try:
            response: uploads_pb2.CompleteUploadResponse = await self._retrier.call(
                lambda: self._conn.uploads[0].CompleteUpload(request, metadata=self._conn.metadata)
            )
        except DataLossError:
            self._forget()  # the task failed for good; a new run starts afresh
            raise
        self._report("done", self._source.size, session.plan.chunks_count, session.plan.chunks_count)
        return convert.cloud_file(response.file)

    # -- state, progress, result --------------------------------------------------------------

    def _save(self, session: _Session) -> None:
        if self._key is None:
            return
        plan = session.plan
        stored = tuple(index for index in range(plan.chunks_count) if index not in session.missing)
        state = UploadState(
            task_id=session.task_id,
            file_size=plan.file_size,
            chunk_size=plan.chunk_size,
            chunks_count=plan.chunks_count,
            sha256=session.sha256,
            hash_at_completion=session.sha256 == "",
            pool_id=self._options.pool_id,
            bundle_id=self._options.bundle_id,
            stored_chunks=stored,
        )
        self._store.save(self._key, state, self._source.identity)

    def _forget(self) -> None:
        if self._key is not None:
            self._store.delete(self._key)

    def _report(self, phase: str, done: int, chunks_done: int, chunks_total: int) -> None:
        if self._progress is not None:
            self._progress(UploadProgress(phase, done, self._source.size, chunks_done, chunks_total))

    def _result(
        self,
        file: CloudFile,
        task_id: str | None,
        *,
        deduplicated: bool,
        resumed: bool,
        count: int,
        during: bool,
    ) -> UploadResult:
        return UploadResult(
            file=file,
            deduplicated=deduplicated,
            resumed=resumed,
            task_id=task_id,
            chunks_count=count,
            chunks_sent=self._sent.chunks_sent,
            chunks_skipped=self._sent.skipped,
            bytes_sent=self._sent.bytes_sent,
            retries=self._retrier.retries,
            hashed_while_sending=during,
        )
