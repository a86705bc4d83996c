"""Upload throughput, concurrency and small-file latency, each against a raw-disk baseline.

Run from the repository root::

    .venv/bin/python -m bench.uploads            # full: 1 GiB files, 200 concurrent uploads
    .venv/bin/python -m bench.uploads --quick    # smoke: 256 MiB files, 50 concurrent uploads

The server runs as a child process (``python -m drive_service serve``, a fresh one per figure so
that its peak RSS belongs to that figure) on a private temporary data dir. The baseline of each
figure is measured in the same run, on the same disk (the same data dir), with the same bytes and
chunk size: ``os.pwrite`` + ``os.fsync`` per chunk and ``hashlib.sha256`` over the bytes. Set
``DRIVE_TEST_DATABASE_URL`` to also run the small-file figure on PostgreSQL. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._harness import (
    GIB,
    KIB,
    MB,
    MIB,
    Baseline,
    FileSpec,
    PayloadSource,
    ServerProcess,
    SinkProcess,
    median,
    percentile,
    raw_write,
    say,
    serving,
    warm_up,
)
from bench._report import Outcome, describe, header, run_figure, run_figures, run_script, verdict
from bench._sink import METHOD as SINK_METHOD
from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc, uploads_pb2, uploads_pb2_grpc

PG_ENV = "DRIVE_TEST_DATABASE_URL"
PIECE = 1 * MIB  # default UploadChunks / UploadFile message payload (--piece-kib)
BIG_CHUNK = 8 * MIB  # default chunk size of the single-file figures (--chunk-mib)
MANY_FILE = 16 * MIB
MANY_STREAM_CHUNK = 5 * MIB  # the service's default chunk size
SMALL_FILE = 64 * KIB
SMALL_WARMUP = 10
MESSAGE_LIMIT = 16 * MIB + 1 * MIB  # UPLOAD_MAX_CHUNK_SIZE + 1 MiB, as the server sets it
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MESSAGE_LIMIT),
    ("grpc.max_receive_message_length", MESSAGE_LIMIT),
]
TARGET_STREAM_RATIO = 0.75
TARGET_MANY_RSS = 500 * MIB
TARGET_SMALL_MEDIAN_MS = 15.0


@dataclass
class Config:
    quick: bool
    big: int
    many: int
    many_method: str
    small_iterations: int
    figures: set[int]
    workdir: Path
    source: PayloadSource
    postgres_url: str | None
    backend: str  # of figures 1-4
    big_chunk: int = BIG_CHUNK
    piece: int = PIECE


def mbps(size: int, seconds: float) -> float:
    return size / MB / seconds


def mib(size: float) -> str:
    return f"{size / MIB:.0f} MiB"


def size_text(size: int) -> str:
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // KIB} KiB"


@contextlib.asynccontextmanager
async def running_server(config: Config, name: str, backend: str) -> AsyncIterator[ServerProcess]:
    """A fresh server process for one figure; stopped (SIGTERM) and its data dir removed after.

    ``backend`` "postgresql" gets a fresh database on DRIVE_TEST_DATABASE_URL's server (dropped after).
    """
    async with contextlib.AsyncExitStack() as stack:
        database_url = None
        if backend == "postgresql":
            from tests.support import postgres_database  # creates and drops a fresh database

            database_url = await stack.enter_async_context(postgres_database())
        server = ServerProcess(config.workdir / name, database_url)
        async with serving([server]):
            yield server


def open_channel(server: ServerProcess) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS)


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def create_request(
    spec: FileSpec, sha256: str, chunk_size: int | None = None
) -> uploads_pb2.CreateUploadTaskRequest:
    return uploads_pb2.CreateUploadTaskRequest(
        file_name=f"bench-{spec.seed}.bin",
        file_size=spec.size,
        content_type="application/octet-stream",
        hash=sha256,
        chunk_size=spec.chunk_size if chunk_size is None else chunk_size,
    )


def chunk_messages(
    source: PayloadSource, task_id: str, spec: FileSpec, piece_size: int = PIECE
) -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
    """Every chunk of ``spec`` as UploadChunks pieces (1 MiB by default; the first names the task)."""

    async def messages() -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
        first = True
        for index in range(spec.chunks):
            for piece in source.pieces(spec.seed, index, spec.length(index), piece_size):
                yield uploads_pb2.UploadChunksRequest(
                    task_id=task_id if first else "", chunk_index=index, data=piece
                )
                first = False

    return messages()


def check_file(file: object, spec: FileSpec, sha256: str) -> None:
    got = (getattr(file, "hash", None), getattr(file, "size", None))
    if got != (sha256, spec.size):
        raise AssertionError(f"stored file is {got}, expected {(sha256, spec.size)}")


# ----------------------------------------------------------------------------------------------
# Figures 1-3: one big file
# ----------------------------------------------------------------------------------------------


async def big_file(
    config: Config,
    number: int,
    title: str,
    upload: Callable[[ServerProcess, str, FileSpec, str], Awaitable[tuple[dict[str, float], object]]],
) -> Outcome:
    spec = FileSpec(seed=number, size=config.big, chunk_size=config.big_chunk)
    # Untimed: re-fault the page-cache memory the VM took back while idle (see bench/README.md), so
    # the baseline runs as warm as the upload that follows it.
    warm_up(config.workdir / "baseline", spec.size)
    before = raw_write(config.workdir / "baseline", config.source, [spec])
    sha256 = before.hashes[0]
    async with running_server(config, f"fig{number}", config.backend) as server:
        token = server.token(str(uuid.uuid4()))
        phases, file = await upload(server, token, spec, sha256)
        rss = server.peak_rss()
    check_file(file, spec, sha256)
    baseline = before + raw_write(config.workdir / "baseline", config.source, [spec])
    floor = await transport_floor(config, spec) if number == 1 else None
    total = phases["total"]
    rate = mbps(spec.size, total)
    ratio = rate / baseline.mb_per_s
    line = (
        f"[{number}] {title}, {mib(spec.size)} in {mib(spec.chunk_size)} chunks ({config.backend}): "
        f"{rate:.1f} MB/s "
        f"({total:.2f} s) | {baseline_text(baseline)} | ratio {ratio:.2f}"
    )
    missed = []
    if number == 1:
        line += f" (target >= {TARGET_STREAM_RATIO}: {verdict(ratio >= TARGET_STREAM_RATIO)})"
        if ratio < TARGET_STREAM_RATIO:
            missed.append(f"[1] ratio {ratio:.2f} < {TARGET_STREAM_RATIO}")
    shown = ", ".join(
        f"{name} {seconds_text(seconds)}" for name, seconds in phases.items() if name != "total"
    )
    io, hashing = baseline.io_seconds / baseline.runs, baseline.hash_seconds / baseline.runs
    details = [
        f"    phases: {shown}; server peak RSS {mib(rss)}",
        f"    baseline split (per run): pwrite+fsync {seconds_text(io)}, sha256 {seconds_text(hashing)}",
    ]
    if "stream" in phases:
        details.append(
            f"    data phase alone {mbps(spec.size, phases['stream']):.1f} MB/s = "
            f"{phases['stream'] / io:.2f}x the baseline's pwrite+fsync time; "
            f"complete = {phases['complete'] / hashing:.2f}x the baseline's sha256 time"
        )
    if floor is not None:
        details.append(
            f"    transport floor: the same messages into a do-nothing Python gRPC server process: "
            f"{mbps(spec.size, floor):.1f} MB/s ({seconds_text(floor)}, "
            f"{floor / phases['stream']:.0%} of the stream phase)"
        )
    return Outcome([line, *details], missed)


async def transport_floor(config: Config, spec: FileSpec) -> float:
    """Seconds to send ``spec`` as UploadChunks messages to bench._sink (parse and drop)."""
    sink = SinkProcess()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sink.port}", options=CHANNEL_OPTIONS) as channel:
            drain = channel.stream_unary(
                SINK_METHOD,
                request_serializer=uploads_pb2.UploadChunksRequest.SerializeToString,
                response_deserializer=lambda response: response,
            )
            started = time.perf_counter()
            await drain(chunk_messages(config.source, "x" * 21, spec, config.piece))
            return time.perf_counter() - started
    finally:
        sink.stop()


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def baseline_text(baseline: Baseline) -> str:
    runs = ", ".join(f"{rate:.0f}" for rate in baseline.run_rates)
    return f"baseline {baseline.mb_per_s:.1f} MB/s (runs before/after: {runs})"


async def upload_stream(
    config: Config, server: ServerProcess, token: str, spec: FileSpec, sha256: str
) -> tuple[dict[str, float], object]:
    metadata = auth(token)
    async with open_channel(server) as channel:
        stub = uploads_pb2_grpc.UploadServiceStub(channel)
        started = time.perf_counter()
        created = await stub.CreateUploadTask(create_request(spec, sha256), metadata=metadata)
        t_created = time.perf_counter()
        result = await stub.UploadChunks(
            chunk_messages(config.source, created.task_id, spec, config.piece), metadata=metadata
        )
        t_streamed = time.perf_counter()
        if result.chunks_stored != spec.chunks:
            raise AssertionError(f"stored {result.chunks_stored} of {spec.chunks} chunks")
        done = await stub.CompleteUpload(
            uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=metadata
        )
        finished = time.perf_counter()
    phases = {
        "create": t_created - started,
        "stream": t_streamed - t_created,
        "complete": finished - t_streamed,
        "total": finished - started,
    }
    return phases, done.file


async def upload_parallel_unary(
    config: Config, server: ServerProcess, token: str, spec: FileSpec, sha256: str, callers: int = 4
) -> tuple[dict[str, float], object]:
    metadata = auth(token)
    channels = [open_channel(server) for _ in range(callers)]
    try:
        stubs = [uploads_pb2_grpc.UploadServiceStub(channel) for channel in channels]
        started = time.perf_counter()
        created = await stubs[0].CreateUploadTask(create_request(spec, sha256), metadata=metadata)
        t_created = time.perf_counter()

        async def caller(number: int) -> None:
            for index in range(number, spec.chunks, callers):
                data = config.source.block(spec.seed, index, spec.length(index))
                await stubs[number].UploadChunk(
                    uploads_pb2.UploadChunkRequest(task_id=created.task_id, chunk_index=index, data=data),
                    metadata=metadata,
                )

        await asyncio.gather(*(caller(number) for number in range(callers)))
        t_streamed = time.perf_counter()
        done = await stubs[0].CompleteUpload(
            uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=metadata
        )
        finished = time.perf_counter()
    finally:
        for channel in channels:
            await channel.close()
    phases = {
        "create": t_created - started,
        "stream": t_streamed - t_created,
        "complete": finished - t_streamed,
        "total": finished - started,
    }
    return phases, done.file


async def upload_one_shot(
    config: Config, server: ServerProcess, token: str, spec: FileSpec, sha256: str
) -> tuple[dict[str, float], object]:
    metadata = auth(token)
    marks: dict[str, float] = {}

    async def messages() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
        yield uploads_pb2.UploadFileRequest(metadata=create_request(spec, sha256))
        for index in range(spec.chunks):
            for piece in config.source.pieces(spec.seed, index, spec.length(index), config.piece):
                yield uploads_pb2.UploadFileRequest(data=piece)
        marks["sent"] = time.perf_counter()

    async with open_channel(server) as channel:
        stub = uploads_pb2_grpc.UploadServiceStub(channel)
        started = time.perf_counter()
        call = stub.UploadFile(messages(), metadata=metadata)
        await call.initial_metadata()  # sent by the server right after it created the task
        t_created = time.perf_counter()
        response = await call
        finished = time.perf_counter()
    if response.file_exists:
        raise AssertionError("UploadFile answered file_exists: the content was not fresh")
    sent = marks.get("sent", finished)
    phases = {
        "create": t_created - started,
        "stream (until the client queued its last byte)": sent - t_created,
        "rest (last bytes, complete)": finished - sent,
        "total": finished - started,
    }
    return phases, response.file


# ----------------------------------------------------------------------------------------------
# Figure 4: many concurrent uploads
# ----------------------------------------------------------------------------------------------


async def many_uploads(config: Config) -> Outcome:
    count, method = config.many, config.many_method
    chunk = MANY_STREAM_CHUNK if method == "stream" else MANY_FILE
    specs = [FileSpec(seed=1000 + number, size=MANY_FILE, chunk_size=chunk) for number in range(count)]
    before = raw_write(config.workdir / "baseline", config.source, specs)
    channel_count = 4
    async with running_server(config, "fig4", config.backend) as server:
        token = server.token(str(uuid.uuid4()))
        metadata = auth(token)
        channels = [open_channel(server) for _ in range(channel_count)]
        try:
            stubs = [uploads_pb2_grpc.UploadServiceStub(channel) for channel in channels]
            latencies: list[float] = []

            async def one(number: int) -> None:
                spec, sha256 = specs[number], before.hashes[number]
                stub = stubs[number % channel_count]
                began = time.perf_counter()
                created = await stub.CreateUploadTask(create_request(spec, sha256), metadata=metadata)
                if method == "stream":
                    await stub.UploadChunks(
                        chunk_messages(config.source, created.task_id, spec), metadata=metadata
                    )
                else:
                    for index in range(spec.chunks):
                        data = config.source.block(spec.seed, index, spec.length(index))
                        await stub.UploadChunk(
                            uploads_pb2.UploadChunkRequest(
                                task_id=created.task_id, chunk_index=index, data=data
                            ),
                            metadata=metadata,
                        )
                done = await stub.CompleteUpload(
                    uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=metadata
                )
                check_file(done.file, spec, sha256)
                latencies.append(time.perf_counter() - began)

            started = time.perf_counter()
            outcomes = await asyncio.gather(*(one(number) for number in range(count)), return_exceptions=True)
            elapsed = time.perf_counter() - started
        finally:
            for channel in channels:
                await channel.close()
        rss = server.peak_rss()
        server_errors = server.errors_logged()
    baseline = before + raw_write(config.workdir / "baseline", config.source, specs)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    kinds = Counter(describe(error) for error in errors)
    succeeded = count - len(errors)
    rate = mbps(succeeded * MANY_FILE, elapsed)
    ratio = rate / baseline.mb_per_s
    how = (
        f"UploadChunks stream of {mib(chunk)} chunks in 1 MiB pieces"
        if method == "stream"
        else f"one unary UploadChunk of {mib(chunk)}"
    )
    line = (
        f"[4] {count} concurrent uploads x {mib(MANY_FILE)} ({how}, {channel_count} channels, "
        f"{config.backend}): "
        f"{rate:.1f} MB/s aggregate ({elapsed:.2f} s) | {baseline_text(baseline)} | "
        f"ratio {ratio:.2f} | failures {len(errors)}/{count} "
        f"(target 0: {verdict(not errors)}) | server peak RSS {mib(rss)} "
        f"(target < {mib(TARGET_MANY_RSS)}: {verdict(rss < TARGET_MANY_RSS)})"
    )
    details = []
    if latencies:
        details.append(
            f"    per-upload latency: median {median(latencies):.2f} s, "
            f"p95 {percentile(latencies, 0.95):.2f} s, max {max(latencies):.2f} s"
        )
    details += [f"    failure x{times}: {kind}" for kind, times in kinds.most_common(5)]
    details += [f"    server logged: {text}" for text in server_errors[:5]]
    missed = []
    if errors:
        missed.append(f"[4] {len(errors)} of {count} uploads failed")
    if rss >= TARGET_MANY_RSS:
        missed.append(f"[4] server peak RSS {mib(rss)} >= {mib(TARGET_MANY_RSS)}")
    return Outcome([line, *details], missed, failed=bool(errors))


# ----------------------------------------------------------------------------------------------
# Figure 5: small-file round trip
# ----------------------------------------------------------------------------------------------


async def small_files(config: Config, backend: str, seed_base: int) -> Outcome:
    total = SMALL_WARMUP + config.small_iterations
    specs = [
        FileSpec(seed=seed_base + number, size=SMALL_FILE, chunk_size=SMALL_FILE) for number in range(total)
    ]
    before = raw_write(config.workdir / "baseline", config.source, specs)
    phases: dict[str, list[float]] = {"create": [], "chunk": [], "complete": []}
    round_trips: list[float] = []
    async with running_server(config, f"fig5-{backend}", backend) as server:
        token = server.token(str(uuid.uuid4()))
        metadata = auth(token)
        async with open_channel(server) as channel:
            stub = uploads_pb2_grpc.UploadServiceStub(channel)
            for number, spec in enumerate(specs):
                sha256 = before.hashes[number]
                data = config.source.block(spec.seed, 0, spec.size)
                started = time.perf_counter()
                # chunk_size 0: the server's default (5 MiB), so 64 KiB is one chunk.
                created = await stub.CreateUploadTask(create_request(spec, sha256, 0), metadata=metadata)
                t_created = time.perf_counter()
                await stub.UploadChunk(
                    uploads_pb2.UploadChunkRequest(task_id=created.task_id, chunk_index=0, data=data),
                    metadata=metadata,
                )
                t_chunk = time.perf_counter()
                done = await stub.CompleteUpload(
                    uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=metadata
                )
                finished = time.perf_counter()
                check_file(done.file, spec, sha256)
                if number >= SMALL_WARMUP:
                    round_trips.append((finished - started) * 1000)
                    phases["create"].append((t_created - started) * 1000)
                    phases["chunk"].append((t_chunk - t_created) * 1000)
                    phases["complete"].append((finished - t_chunk) * 1000)
            floors = await rpc_floors(channel, metadata, created.task_id)
        database = await database_floors(backend, server)
    after = raw_write(config.workdir / "baseline", config.source, specs)
    raw_ms = [seconds * 1000 for run in (before, after) for seconds in run.per_file[SMALL_WARMUP:]]
    upload_median, upload_p95 = median(round_trips), percentile(round_trips, 0.95)
    raw_median = median(raw_ms)
    ok = upload_median < TARGET_SMALL_MEDIAN_MS
    line = (
        f"[5] small-file round trip ({backend}), {SMALL_FILE // KIB} KiB x {len(round_trips)}: "
        f"median {upload_median:.2f} ms, p95 {upload_p95:.2f} ms | baseline median {raw_median:.2f} ms "
        f"(p95 {percentile(raw_ms, 0.95):.2f} ms) | ratio {upload_median / raw_median:.1f}x baseline "
        f"(target median < {TARGET_SMALL_MEDIAN_MS:.0f} ms: {verdict(ok)})"
    )
    shown = ", ".join(
        f"{name} {median(values):.2f}/{percentile(values, 0.95):.2f}" for name, values in phases.items()
    )
    details = [
        f"    phases median/p95 ms: {shown}",
        "    floors median ms: "
        + ", ".join(f"{name} {median(values):.2f}" for name, values in floors.items()),
        f"    raw {backend} from this process, median ms: "
        + ", ".join(f"{name} {median(values):.2f}" for name, values in database.items()),
    ]
    missed = [] if ok else [f"[5] {backend} median {upload_median:.2f} ms >= {TARGET_SMALL_MEDIAN_MS:.0f} ms"]
    return Outcome([line, *details], missed)


async def rpc_floors(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], task_id: str, rounds: int = 100
) -> dict[str, list[float]]:
    """Round trips that bound the small-file figure from below.

    gRPC alone (health Check: no auth, no database); a call without a token (the interceptor
    answers UNAUTHENTICATED with a rich status); auth and an error status (GetUploadProgress with a
    malformed task id: the token is verified, then NOT_FOUND before any database access); auth + one
    write transaction (TaskService.CreateTask: insert the task and its event, commit); auth + two
    read transactions (GetUploadProgress of a real task: the upload row, then its chunks).
    """
    health = health_pb2_grpc.HealthStub(channel)
    uploads = uploads_pb2_grpc.UploadServiceStub(channel)
    tasks = tasks_pb2_grpc.TaskServiceStub(channel)
    new_task = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="bench floor")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "gRPC only": lambda: health.Check(health_pb2.HealthCheckRequest()),
        "no token, rejected": lambda: _expect_failure(
            uploads.GetUploadProgress(uploads_pb2.GetUploadProgressRequest(task_id="-")),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        "auth + error status, no DB": lambda: _expect_failure(
            uploads.GetUploadProgress(uploads_pb2.GetUploadProgressRequest(task_id="-"), metadata=metadata),
            grpc.StatusCode.NOT_FOUND,
        ),
        "auth + 1 write transaction (CreateTask)": lambda: tasks.CreateTask(new_task, metadata=metadata),
        "auth + 2 read transactions": lambda: uploads.GetUploadProgress(
            uploads_pb2.GetUploadProgressRequest(task_id=task_id), metadata=metadata
        ),
    }
    floors: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            floors[name].append((time.perf_counter() - started) * 1000)
    return floors


async def database_floors(backend: str, server: ServerProcess, rounds: int = 100) -> dict[str, list[float]]:
    """The database's own cost, without the service: a read transaction and a committed insert.

    SQLite: the sqlite3 module on a scratch file in the server's data dir (WAL, synchronous=FULL,
    BEGIN IMMEDIATE, as the service configures it). PostgreSQL: asyncpg on the figure's fresh
    database (a scratch table, dropped with the database).
    """
    floors: dict[str, list[float]] = {"read transaction": [], "insert + commit": []}
    if backend == "sqlite":
        path = server.data_dir / "floor.db"
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
                connection.execute(f"PRAGMA {pragma}")
            connection.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, data BLOB)")
            for number in range(rounds):
                started = time.perf_counter()
                connection.execute("BEGIN")
                connection.execute("SELECT count(*) FROM floor").fetchone()
                connection.execute("COMMIT")
                middle = time.perf_counter()
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT INTO floor VALUES (?, ?)", (number, b"x" * 200))
                connection.execute("COMMIT")
                finished = time.perf_counter()
                floors["read transaction"].append((middle - started) * 1000)
                floors["insert + commit"].append((finished - middle) * 1000)
        finally:
            connection.close()
        return floors
    import asyncpg

    assert server.database_url is not None
    dsn = server.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE bench_floor (id integer PRIMARY KEY, data bytea)")
        for number in range(rounds):
            started = time.perf_counter()
            async with connection.transaction():
                await connection.fetchval("SELECT count(*) FROM bench_floor")
            middle = time.perf_counter()
            async with connection.transaction():
                await connection.execute("INSERT INTO bench_floor VALUES ($1, $2)", number, b"x" * 200)
            finished = time.perf_counter()
            floors["read transaction"].append((middle - started) * 1000)
            floors["insert + commit"].append((finished - middle) * 1000)
    finally:
        await connection.close()
    return floors


async def _expect_failure(call: Awaitable[object], code: grpc.StatusCode) -> None:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        if error.code() is not code:
            raise
        return
    raise AssertionError(f"expected {code.name}")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


async def run(config: Config) -> list[Outcome]:
    plan: list[tuple[int, str, Callable[[], Awaitable[Outcome]]]] = [
        (
            1,
            "stream",
            lambda: big_file(
                config,
                1,
                f"UploadChunks, one stream, {size_text(config.piece)} pieces",
                _bind(upload_stream, config),
            ),
        ),
        (
            2,
            "parallel",
            lambda: big_file(
                config, 2, "UploadChunk, 4 parallel unary callers", _bind(upload_parallel_unary, config)
            ),
        ),
        (
            3,
            "one-shot",
            lambda: big_file(
                config,
                3,
                f"UploadFile, one-shot stream, {size_text(config.piece)} pieces",
                _bind(upload_one_shot, config),
            ),
        ),
        (4, "many", lambda: many_uploads(config)),
        (5, "small sqlite", lambda: small_files(config, "sqlite", seed_base=10_000)),
    ]
    if config.postgres_url:
        plan.append((5, "small postgresql", lambda: small_files(config, "postgresql", seed_base=20_000)))
    return [
        await run_figure(number, name, figure) for number, name, figure in plan if number in config.figures
    ]


def _bind(
    upload: Callable[..., Awaitable[tuple[dict[str, float], object]]], config: Config
) -> Callable[[ServerProcess, str, FileSpec, str], Awaitable[tuple[dict[str, float], object]]]:
    return lambda server, token, spec, sha256: upload(config, server, token, spec, sha256)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.uploads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB files and 50 concurrent uploads")
    parser.add_argument(
        "--figures", default="1,2,3,4,5", help="comma-separated figure numbers to run (default all)"
    )
    parser.add_argument(
        "--many-method",
        choices=["stream", "unary"],
        default="stream",
        help="figure 4: UploadChunks in 5 MiB chunks (default) or one 16 MiB unary UploadChunk",
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help=f"database of figures 1-4 (postgresql needs {PG_ENV}); figure 5 runs on both when it is set",
    )
    parser.add_argument(
        "--chunk-mib", type=int, default=BIG_CHUNK // MIB, help="chunk size of figures 1-3 (default 8)"
    )
    parser.add_argument(
        "--piece-kib",
        type=int,
        default=PIECE // KIB,
        help="stream message size of figures 1 and 3 (default 1024)",
    )
    parser.add_argument("--small-iterations", type=int, default=200, help="figure 5 iterations (default 200)")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_script("drive-bench-", args.dir, lambda workdir: measure(args, workdir))


def measure(args: argparse.Namespace, workdir: Path) -> int:
    setting = f"work dir {workdir} (baseline and server data on the same disk); MB = 10^6 bytes"
    header("upload", args.quick, setting)
    config = Config(
        quick=args.quick,
        big=(256 * MIB if args.quick else GIB),
        many=(50 if args.quick else 200),
        many_method=args.many_method,
        small_iterations=args.small_iterations,
        figures={int(part) for part in args.figures.split(",") if part.strip()},
        workdir=workdir,
        source=PayloadSource(),
        postgres_url=os.environ.get(PG_ENV) or None,
        backend=args.backend,
        big_chunk=args.chunk_mib * MIB,
        piece=args.piece_kib * KIB,
    )
    if config.backend == "postgresql" and not config.postgres_url:
        say(f"--backend postgresql needs {PG_ENV}")
        return 2
    if not config.postgres_url and 5 in config.figures:
        say(f"  ({PG_ENV} is not set: figure 5 runs on SQLite only)")
    return run_figures(run(config))


if __name__ == "__main__":
    sys.exit(main())
