"""Every interface the services need from the outside world. ``storage/`` implements them (SQL,
Redis, disk, gRPC; ``storage/memory`` holds in-memory twins for unit tests), ``bootstrap.py``
chooses which. Writes return their ``Changes``; the manager that made the write hands them to the
``EventPublisher`` right after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from drive_service.domain.events import Changes as Changes  # what every write returns
from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.files import Bundle, StoredFile, Upload, Usage
from drive_service.domain.rate_limits import RateLimit
from drive_service.domain.ring import Notification, Packet
from drive_service.domain.tasks import Task, TaskStats, TaskStatus
from drive_service.domain.uploads import ChunkReceipt, UploadStats
from drive_service.domain.validation import TaskQuery
from drive_service.errors import BlobMissing as BlobMissing  # raised by BlobStore.read

#: The time now (UTC, timezone-aware); tests inject a clock they move by hand.
Clock = Callable[[], datetime]
#: Bytes-like data (bytes, bytearray or memoryview), written without a copy.
Data = bytes | bytearray | memoryview
#: A pure change of a locked task: the updated task and the events describing the change.
TaskChange = Callable[[Task], tuple[Task, Sequence[Event]]]
#: A pure change of a locked upload: new task, new upload and the events describing the change.
UploadChange = Callable[[Task, Upload], tuple[Task, Upload, Sequence[Event]]]
#: Deletes the bytes of a blob that no file references any more: (pool_id, key). Called inside
#: the transaction that dropped the last reference, while the blob row is still locked.
BlobRelease = Callable[[str, str], Awaitable[None]]


class TaskStore(Protocol):
    """Persistent tasks, each write committed together with its events (the outbox)."""

    async def insert(self, task: Task, events: Sequence[Event]) -> Changes:
        """Store a new task and its events in one transaction."""

    async def get(self, account_id: str, task_id: str) -> Task | None:
        """The caller's task read from the database, or None (unknown or another account's)."""

    async def change(self, account_id: str, task_id: str, change: TaskChange) -> tuple[Task, Changes]:
        """Lock the caller's task, apply ``change`` and store the result with its events. Raises
        TaskNotFound, or whatever ``change`` raises (nothing is written then)."""

    async def find(self, account_id: str, query: TaskQuery) -> tuple[list[Task], int]:
        """One page of the caller's tasks and the total number matching the filters."""

    async def delete_terminal(self, account_id: str, updated_before: datetime) -> tuple[int, Changes]:
        """Delete the caller's terminal tasks last updated at or before the time; how many went."""

    async def purge_terminal(self, updated_before: datetime) -> tuple[int, Changes]:
        """Delete every account's terminal tasks last updated before the time (retention)."""

    async def overdue(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, task_id) of unfinished tasks whose ``expired_at`` has passed."""

    async def stats(self, account_id: str) -> TaskStats:
        """Counts by type and status and averages."""

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Task counts of all accounts by status (for health and queue depth)."""


class WorkerStore(Protocol):
    """The queue of worker-run tasks; every leased write checks the attempt's lease token."""

    async def claim(
        self, types: Sequence[str], limit: int, now: datetime, lease: timedelta, token: str
    ) -> tuple[list[Task], Changes]:
        """Lease up to ``limit`` claimable tasks (highest priority, then oldest), counting an attempt."""

    async def change_leased(self, task_id: str, token: str, change: TaskChange) -> tuple[Task, Changes]:
        """Apply ``change`` to a task this attempt still holds (a completion also makes the attempt's
        hidden outputs visible, in the same transaction). Raises LeaseLost, writing nothing."""

    async def rescue(self, task_id: str, change: TaskChange) -> tuple[Task, Changes] | None:
        """Apply ``change`` whatever the lease; None when the task is gone or busy elsewhere."""

    async def expired_leases(self, now: datetime, limit: int) -> list[str]:
        """Ids of running worker tasks whose lease has run out."""

    async def status(self, task_id: str) -> TaskStatus | None:
        """The task's status, or None when it was deleted."""


class TaskCache(Protocol):
    """Copies of tasks for GetTask-style reads; a read after a write never sees older data."""

    async def read(self, task_id: str, load: Callable[[], Awaitable[Task | None]]) -> Task | None:
        """The cached task, or what ``load`` returns (kept when nothing changed meanwhile)."""

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        """Forget these tasks (they changed or were deleted); never raises."""

    async def retry_pending(self) -> None:
        """Make the invalidations that could not be made earlier (the cache was unreachable)."""


class EventLog(Protocol):
    """Read side of the outbox."""

    async def after(self, account_id: str, sequence: int, limit: int) -> list[RecordedEvent]:
        """The account's events with a sequence greater than ``sequence``, oldest first."""

    async def last_sequence(self, account_id: str) -> int:
        """The newest sequence handed out to the account (0 when none)."""

    async def newest(self, account_ids: Sequence[str]) -> dict[str, int]:
        """The newest sequence of each of these accounts that has any."""

    async def prune(self, recorded_before: datetime) -> int:
        """Delete events recorded before the time (the replay window); how many went."""


class EventPublisher(Protocol):
    """Tells the world about committed changes."""

    async def publish(self, changes: Changes) -> None:
        """Invalidate the touched tasks' cached copies, then deliver the events to watchers here,
        on other instances and to outbound sinks. Runs to its end even when the caller is
        cancelled meanwhile, so a committed change is never left unannounced; never raises."""


class RingClient(Protocol):
    """The two Ring calls the sink makes; each is bounded by a deadline and raises RingError
    (``services/ring_sink.py``) when it fails."""

    async def push_packet(self, packet: Packet) -> None:
        """``PushWebSocketPacket``."""

    async def push_notification(self, notification: Notification) -> None:
        """``SendPushNotificationToUser`` (saved in the user's notification list)."""

    async def close(self) -> None:
        """Release the connection; no call is made afterwards."""


class Buckets(Protocol):
    """Where rate-limit token buckets live: this process, or Redis when instances share them."""

    async def take(self, key: str, limit: RateLimit, cost: float) -> float:
        """Take ``cost`` tokens from bucket ``key``: 0.0 when taken, else the seconds to wait.
        A store that cannot answer (Redis away) lets the call through rather than failing it."""


class ChunkUnit(Protocol):
    """One write transaction receiving chunks of one upload (see ``UploadStore.receiving``)."""

    task: Task
    upload: Upload
    changes: Changes

    async def claim(self, receipt: ChunkReceipt) -> None:
        """Insert the chunk's receipt: of two writers of one chunk exactly one gets it (the other
        waits until the first ends). Raises ChunkAlreadyUploaded."""

    async def apply(self, change: UploadChange) -> tuple[Task, Upload]:
        """Lock the upload, apply ``change`` to it as it now stands and store the result."""


class UploadUnit(Protocol):
    """Several steps of one upload use case in one write transaction; reads see its own writes."""

    changes: Changes

    async def usage(self, multipliers: dict[str, float], default_quota: int) -> Usage:
        """The account's quota position (see FileStore.usage)."""

    async def find_file(self, sha256: str, size: int, now: datetime) -> StoredFile | None:
        """The account's live, unencrypted file with this content (dedup)."""

    async def bundle(self, bundle_id: str) -> Bundle | None:
        """The account's bundle, or None."""

    async def insert(self, task: Task, upload: Upload, events: Sequence[Event]) -> None:
        """Store a new task, its upload row and its events."""

    async def lock(self, task_id: str) -> tuple[Task, Upload] | None:
        """The account's upload, locked until the unit ends, or None."""

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        """Indexes of the stored chunks, ascending."""

    async def reference_blob(self, file: StoredFile) -> bool:
        """Count one more reference to the file's blob (locking its row until the unit ends);
        True when the blob was referenced already, so its bytes are in place."""

    async def insert_file(self, file: StoredFile) -> None:
        """Insert the file's row (its blob referenced first with ``reference_blob``)."""

    async def apply(self, task_id: str, change: UploadChange) -> tuple[Task, Upload]:
        """Apply ``change`` to the locked upload and store it with its events."""


class UploadStore(Protocol):
    """Uploads joined with their tasks, chunk receipts, and the upload use cases' transactions."""

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
        """The caller's upload, or None."""

    async def find(
        self,
        account_id: str,
        status: TaskStatus | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[Task, Upload]], int]:
        """A page of the caller's uploads and the total matching ``status``."""

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        """Indexes of the stored chunks, ascending."""

    async def chunk_activity(self, task_id: str, since: datetime) -> list[tuple[datetime, int]]:
        """(time, size) of the chunks received since ``since``."""

    def receiving(self, account_id: str, task_id: str) -> AbstractAsyncContextManager[ChunkUnit]:
        """A write transaction storing chunks of the caller's upload: committed when the block ends
        normally, rolled back on any exception. Raises TaskNotFound on entering."""

    def unit(self, account_id: str) -> AbstractAsyncContextManager[UploadUnit]:
        """A write transaction for several steps of one use case (create, complete)."""

    async def change(
        self, account_id: str, task_id: str, change: UploadChange
    ) -> tuple[Task, Upload, Changes]:
        """Lock the caller's upload, apply ``change`` and store it with its events. Raises TaskNotFound."""

    async def stats(self, account_id: str) -> UploadStats:
        """Counts by status, bytes received and the mean progress of running uploads."""

    async def stale(self, idle_before: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, task_id) of running uploads idle since before ``idle_before``."""

    async def delete_finished(self, account_id: str) -> tuple[list[str], Changes]:
        """Delete the caller's failed, expired and cancelled uploads; return their task ids."""

    async def staged_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        """Which of ``task_ids`` are uploads still in progress (their staging must stay)."""


class FileStore(Protocol):
    """Files, bundles, blob references and quotas of accounts."""

    async def get_file(self, account_id: str, file_id: str, now: datetime | None = None) -> StoredFile | None:
        """The caller's file with its effective expiry, or None when unknown, another account's,
        or expired at ``now`` (None shows every stored file)."""

    async def find_file(self, account_id: str, sha256: str, size: int, now: datetime) -> StoredFile | None:
        """The caller's live, unencrypted file with this content (for dedup), or None."""

    async def list_files(
        self,
        account_id: str,
        pool_id: str | None,
        bundle_id: str | None,
        offset: int,
        limit: int,
        now: datetime | None = None,
    ) -> tuple[list[StoredFile], int]:
        """A page of the caller's files live at ``now`` (newest first) and the matching total."""

    async def delete_file(self, account_id: str, file_id: str, release: BlobRelease) -> StoredFile:
        """Delete the caller's file and drop its blob reference. Raises FileNotFound.

        A blob whose count reaches 0 loses its row, and ``release(pool_id, key)`` deletes its
        bytes in the same transaction, while the row lock keeps a concurrent upload of the same
        content waiting (it then stores the bytes anew)."""

    async def expired_files(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, file_id) of files whose expiry has passed (own or their bundle's)."""

    async def usage(self, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
        """Weighted stored bytes, bytes reserved by in-flight uploads, and the account's quota."""

    async def set_quota(self, account_id: str, quota_bytes: int | None) -> None:
        """Override the account's quota (None removes the override)."""

    async def known_blobs(self, pool_id: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have a blob row in the pool (are referenced by files)."""

    async def create_bundle(self, bundle: Bundle) -> None:
        """Store a new bundle."""

    async def get_bundle(self, account_id: str, bundle_id: str) -> Bundle | None:
        """The caller's bundle, or None."""

    async def list_bundles(self, account_id: str, offset: int, limit: int) -> tuple[list[Bundle], int]:
        """A page of the caller's bundles and their total."""

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        """Delete the caller's bundle (its files stay, without bundle). Raises BundleNotFound."""


class OutputStore(Protocol):
    """Writes by task handlers: outputs tied to a lease, relocations, expiry changes."""

    async def add_output(
        self, file: StoredFile, task_id: str, lease_token: str, place: Callable[[bool], Awaitable[None]]
    ) -> None:
        """Insert a hidden output of the task's running attempt; ``place(existed)`` puts the bytes
        in place while the blob row is locked. Raises LeaseLost."""

    async def discard_stray_outputs(
        self, task_id: str, lease_token: str, keep: frozenset[str], release: BlobRelease
    ) -> int:
        """Delete the task's hidden outputs not in ``keep`` while the lease holds; how many went.
        Raises LeaseLost."""

    async def discard_outputs(self, task_id: str, release: BlobRelease) -> int:
        """Delete the task's hidden outputs and drop their blob references."""

    async def abandoned_output_tasks(self, limit: int) -> list[str]:
        """Tasks whose hidden outputs can never be published: ended without completing, or gone."""

    async def relocate(
        self,
        account_id: str,
        file_id: str,
        pool_id: str,
        bundle_id: str | None,
        place: Callable[[bool], Awaitable[None]],
        release: BlobRelease,
    ) -> StoredFile:
        """Move a file to another pool and/or bundle: the new pool's reference first (``place``
        copies the bytes when it lacks them), then the old one dropped, in one transaction.
        Raises FileNotFound."""

    async def set_expiry(self, account_id: str, file_id: str, expired_at: datetime | None) -> None:
        """Change a file's own expiry. Raises FileNotFound."""

    async def file_ids_in_pool(self, account_id: str, pool_id: str, after: str, limit: int) -> list[str]:
        """Ids of the account's visible files in the pool with ids after ``after``, ascending."""


class BlobStore(Protocol):
    """The bytes of one pool: the staging area of its uploads in progress, and its blobs.

    Blobs are content-addressed (the key of plain content is its SHA-256; encrypted content gets
    a random key) and written once. Every failure of the medium surfaces as ``Unavailable``.
    """

    async def write_chunk(self, task_id: str, offset: int, data: Data) -> None:
        """Write ``data`` at ``offset`` of the upload's staging and make it durable. Returns only
        once the write has ended, even when the caller is cancelled meanwhile (the chunk's
        receipt must not roll back while these bytes may still land on another writer's)."""

    async def hash_staging(self, task_id: str) -> tuple[str, int]:
        """SHA-256 hex and size of the upload's staged bytes."""

    def read_staging(self, task_id: str) -> AsyncIterator[bytes]:
        """The upload's staged bytes, in blocks."""

    async def adopt_staging(self, task_id: str, key: str) -> bool:
        """Make the staged bytes the blob ``key`` (the staging stays until discarded, so a failed
        completion can be retried); False when that blob existed already."""

    async def discard_staging(self, task_id: str) -> None:
        """Remove the upload's staged bytes (no error when already gone)."""

    async def staging_ids(self) -> list[str]:
        """Task ids that have staged bytes here (for orphan collection)."""

    async def adopt(self, source: Path, key: str) -> bool:
        """Make the local file ``source`` (left in place) the blob ``key``; False when it existed."""

    async def put(self, key: str, blocks: AsyncIterable[bytes]) -> bool:
        """Store ``blocks`` as the blob ``key`` unless it exists; False when it existed."""

    async def write_blob(self, blocks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Store ``blocks`` as a new blob under a fresh random key; returns (key, size)."""

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[offset, offset + length)`` of the blob (to its end when ``length`` is None), in
        blocks of at most 1 MiB; BlobMissing (while iterating) when it does not exist."""

    async def delete_blob(self, key: str) -> None:
        """Remove a blob (no error when already gone)."""

    async def blob_keys(self, modified_before: datetime) -> list[str]:
        """Keys of the blobs last written before the time (for orphan collection)."""

    async def probe(self) -> None:
        """Check the medium answers and is writable; raises when not."""


class BlobStores(Protocol):
    """The blob store of each configured pool."""

    def of(self, pool_id: str) -> BlobStore:
        """The store holding pool ``pool_id``'s bytes."""
