"""An S3 pool end to end: a 1 GiB upload and its ReadFile through a real server, each against the
same bytes moved by plain aiobotocore calls to the same moto server, in the same run.

Run from the repository root::

    .venv/bin/python -m bench.s3_upload            # 1 GiB, 3 rounds (~5 min)
    .venv/bin/python -m bench.s3_upload --quick    # 256 MiB, 5 rounds (~1.5 min)

One moto server child process (``tests/support/s3server.py``) and one ``python -m drive_service
serve`` child process whose only pool is an S3 pool on that server. The service's figures go
through gRPC (``UploadChunks`` in 1 MiB messages of 16 MiB chunks, then ``CompleteUpload``;
``ReadFile``); the plain ones are the benchmark process's own aiobotocore calls: a multipart
upload with the same part size and as many parts in flight as the service writes for one stream
(one), and one ranged GET of the stored object. Each round runs both, alternating which goes
first, and its ratio is plain seconds / service seconds; a figure's ratio is the median over the
rounds (this 2-core box is shared and noisy). These are issue 10's figures (target ratio >= 0.8
for both). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench._harness import (
    GIB,
    MB,
    MIB,
    FileSpec,
    PayloadSource,
    ServerProcess,
    median,
    process_cpu,
    say,
    serving,
)
from bench._report import Outcome, header, run_figure, run_figures, run_script, verdict
from bench._sink import METHOD as SINK_METHOD
from bench._sink import SOURCE_METHOD as SINK_SOURCE_METHOD
from bench.s3_baseline import plain_client
from bench.uploads import CHANNEL_OPTIONS, auth, create_request
from drive.v1 import files_pb2, files_pb2_grpc, uploads_pb2, uploads_pb2_grpc

TARGET = 0.8
CHUNK = 16 * MIB  # UPLOAD_MAX_CHUNK_SIZE: the fewest parts, each S3's usual part size
PIECE = 1 * MIB  # UploadChunks message payload, as bench.uploads sends
READ_BLOCK = 1 * MIB  # ReadFile's message size
PREFIX = "bench-pool/"
CODE_PATHS = ("drive_service", "bench/s3_upload.py", "tests/support/s3server.py")


@dataclass
class Config:
    size: int
    rounds: int
    figures: set[int]
    plain_in_flight: int
    backend: str
    workdir: Path
    source: PayloadSource = field(default_factory=PayloadSource)


@dataclass
class Sample:
    """One measured transfer: its phases in seconds, and CPU seconds of the processes involved."""

    phases: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    def add(self, other: Sample) -> None:
        for name, seconds in other.phases.items():
            self.phases[name] = self.phases.get(name, 0.0) + seconds
        for name, seconds in other.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds


class Meter:
    """CPU seconds of moto, the server and this process over a block of work."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids

    def start(self) -> dict[str, float]:
        return {**{name: process_cpu(pid) for name, pid in self._pids.items()}, "client": time.process_time()}

    def since(self, started: dict[str, float]) -> dict[str, float]:
        now = self.start()
        return {name: now[name] - started[name] for name in now}


def rate(size: int, seconds: float) -> float:
    return size / MB / seconds


def cpu_text(size: int, sample: Sample) -> str:
    per_gib = GIB / size
    return ", ".join(f"{name} {seconds * per_gib:.1f}" for name, seconds in sample.cpu.items())


def phases_text(sample: Sample, runs: int) -> str:
    return ", ".join(f"{name} {seconds / runs * 1000:.0f} ms" for name, seconds in sample.phases.items())


def rounds_text(ratios: Sequence[float]) -> str:
    return "[" + ", ".join(f"{ratio:.2f}" for ratio in ratios) + "]"


def sha256_of(source: PayloadSource, spec: FileSpec) -> str:
    digest = hashlib.sha256()
    for index in range(spec.chunks):
        digest.update(source.block(spec.seed, index, spec.length(index)))
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# The two clients
# ----------------------------------------------------------------------------------------------


@dataclass
class Service:
    """A stub of the server's UploadService and FileService with one account's token."""

    uploads: uploads_pb2_grpc.UploadServiceStub
    files: files_pb2_grpc.FileServiceStub
    metadata: tuple[tuple[str, str], ...]


def chunk_stream(
    source: PayloadSource, task_id: str, spec: FileSpec, order: Sequence[int]
) -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
    async def messages() -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
        first = True
        for index in order:
            for piece in source.pieces(spec.seed, index, spec.length(index), PIECE):
                yield uploads_pb2.UploadChunksRequest(
                    task_id=task_id if first else "", chunk_index=index, data=piece
                )
                first = False

    return messages()


async def service_upload(
    service: Service, source: PayloadSource, spec: FileSpec, sha256: str, order: Sequence[int]
) -> tuple[Sample, files_pb2.CloudFile, str]:
    """CreateUploadTask, one UploadChunks stream with the chunks in ``order``, CompleteUpload; the
    file, and the key of its object (a plain upload's object is named by its task id)."""
    started = time.perf_counter()
    created = await service.uploads.CreateUploadTask(create_request(spec, sha256), metadata=service.metadata)
    if created.file_exists:
        raise AssertionError("the content was not fresh (dedup hit)")
    streamed_from = time.perf_counter()
    result = await service.uploads.UploadChunks(
        chunk_stream(source, created.task_id, spec, order), metadata=service.metadata
    )
    if result.chunks_stored != spec.chunks:
        raise AssertionError(f"stored {result.chunks_stored} of {spec.chunks} chunks")
    completed_from = time.perf_counter()
    done = await service.uploads.CompleteUpload(
        uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=service.metadata
    )
    finished = time.perf_counter()
    if (done.file.hash, done.file.size) != (sha256, spec.size):
        raise AssertionError(f"stored {(done.file.hash, done.file.size)}, expected {(sha256, spec.size)}")
    phases = {
        "create": streamed_from - started,
        "stream": completed_from - streamed_from,
        "complete": finished - completed_from,
    }
    return Sample(phases), done.file, f"{PREFIX}blobs/{created.task_id}"


async def plain_upload(
    client: Any, bucket: str, key: str, source: PayloadSource, spec: FileSpec, in_flight: int
) -> Sample:
    """A multipart upload of the same bytes: create, parts (``in_flight`` at a time, each built
    from the payload source just before it is sent, as the service's client builds its messages),
    complete."""
    started = time.perf_counter()
    upload_id = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]
    parts_from = time.perf_counter()
    gate = asyncio.Semaphore(in_flight)

    async def put(index: int) -> dict[str, Any]:
        async with gate:
            data = source.block(spec.seed, index, spec.length(index))
            answer = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=index + 1, Body=data
            )
            return {"PartNumber": index + 1, "ETag": answer["ETag"]}

    parts = await asyncio.gather(*(put(index) for index in range(spec.chunks)))
    completed_from = time.perf_counter()
    await client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": list(parts)}
    )
    finished = time.perf_counter()
    phases = {
        "create": parts_from - started,
        "parts": completed_from - parts_from,
        "complete": finished - completed_from,
    }
    return Sample(phases)


async def service_read(service: Service, file_id: str, size: int, offset: int = 0) -> Sample:
    """ReadFile of ``size`` bytes from ``offset`` (0 and the file's size: the whole file)."""
    started = time.perf_counter()
    count = 0
    request = files_pb2.ReadFileRequest(file_id=file_id, offset=offset, length=size)
    async for message in service.files.ReadFile(request, metadata=service.metadata):
        count += len(message.data)
    if count != size:
        raise AssertionError(f"ReadFile gave {count} bytes of {size}")
    return Sample({"read": time.perf_counter() - started})


async def plain_read(client: Any, bucket: str, key: str, size: int, offset: int = 0) -> Sample:
    """One ranged GET of ``size`` bytes from ``offset``, streamed in 1 MiB blocks."""
    started = time.perf_counter()
    answer = await client.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + size - 1}")
    count = 0
    async for block in answer["Body"].iter_chunks(READ_BLOCK):
        count += len(block)
    if count != size:
        raise AssertionError(f"the GET gave {count} bytes of {size}")
    return Sample({"read": time.perf_counter() - started})


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """What the figures share: the config, both clients, the servers' pids, and results."""

    config: Config
    s3: Any  # tests.support.s3server.S3Server
    plain: Any  # aiobotocore S3 client
    service: Service
    meter: Meter
    uploads: dict[str, Sample] = field(default_factory=lambda: {"service": Sample(), "plain": Sample()})
    reads: dict[str, Sample] = field(default_factory=lambda: {"service": Sample(), "plain": Sample()})
    ranged: dict[str, list[float]] = field(default_factory=lambda: {"service": [], "plain": []})
    #: Per round, plain seconds / service seconds: the ratio of that round's pair of runs.
    upload_ratios: list[float] = field(default_factory=list)
    read_ratios: list[float] = field(default_factory=list)

    async def measured(self, work: Callable[[], Any]) -> Sample:
        started = self.meter.start()
        sample: Sample = await work()
        sample.cpu = self.meter.since(started)
        return sample


async def one_round(bench: Bench, number: int) -> None:
    """Both uploads of fresh bytes (which goes first alternates), then both reads of the object
    the service stored; then both objects are deleted (moto keeps them)."""
    config, bucket = bench.config, bench.s3.bucket
    spec = FileSpec(seed=number, size=config.size, chunk_size=CHUNK)
    sha256 = await asyncio.to_thread(sha256_of, config.source, spec)
    plain_key = f"plain/{number}"
    order = ("plain", "service") if number % 2 == 0 else ("service", "plain")
    file, stored_key = None, ""
    totals: dict[str, float] = {}
    for which in order:
        if which == "plain":
            sample = await bench.measured(
                lambda: plain_upload(
                    bench.plain, bucket, plain_key, config.source, spec, config.plain_in_flight
                )
            )
        else:
            started = bench.meter.start()
            sample, file, stored_key = await service_upload(
                bench.service, config.source, spec, sha256, range(spec.chunks)
            )
            sample.cpu = bench.meter.since(started)
        bench.uploads[which].add(sample)
        totals[which] = sample.total
    bench.upload_ratios.append(totals["plain"] / totals["service"])
    assert file is not None
    if 2 in config.figures:
        for which in order:  # the whole file
            if which == "plain":
                sample = await bench.measured(lambda: plain_read(bench.plain, bucket, stored_key, spec.size))
            else:
                sample = await bench.measured(lambda: service_read(bench.service, file.id, spec.size))
            bench.reads[which].add(sample)
            totals[which] = sample.total
        bench.read_ratios.append(totals["plain"] / totals["service"])
        middle = spec.size // 2
        for which in order:  # 1 MiB from the middle
            if which == "plain":
                sample = await plain_read(bench.plain, bucket, stored_key, READ_BLOCK, middle)
            else:
                sample = await service_read(bench.service, file.id, READ_BLOCK, middle)
            bench.ranged[which].append(sample.total)
    for key in (plain_key, stored_key):
        await bench.plain.delete_object(Bucket=bucket, Key=key)


def upload_outcome(bench: Bench) -> Outcome:
    config = bench.config
    moved = config.size * config.rounds
    service, plain = bench.uploads["service"], bench.uploads["plain"]
    ratio = median(bench.upload_ratios)
    title = (
        f"[1] {config.size // MIB} MiB upload to an S3 pool ({config.backend}), one UploadChunks stream "
        f"of {CHUNK // MIB} MiB chunks in {PIECE // MIB} MiB messages, create to complete: "
        f"service {rate(moved, service.total):.0f} MB/s, plain multipart ({CHUNK // MIB} MiB parts, "
        f"{config.plain_in_flight} in flight) {rate(moved, plain.total):.0f} MB/s, "
        f"ratio {ratio:.2f} (median of {config.rounds} rounds; target >= {TARGET}: "
        f"{verdict(ratio >= TARGET)})"
    )
    pooled = rate(moved, service.total) / rate(moved, plain.total)
    stream, parts = service.phases["stream"], plain.phases["parts"]
    outcome = Outcome(
        [
            title,
            f"    ratio per round {rounds_text(bench.upload_ratios)}; pooled over the rounds {pooled:.2f}",
            f"    data phase only (UploadChunks stream / UploadPart calls): "
            f"service {rate(moved, stream):.0f} MB/s, plain {rate(moved, parts):.0f} MB/s, "
            f"ratio {parts / stream:.2f}",
            f"    per run, service: {phases_text(service, config.rounds)}",
            f"    per run, plain:   {phases_text(plain, config.rounds)}",
            f"    CPU s per GiB, service run: {cpu_text(moved, service)}",
            f"    CPU s per GiB, plain run:   {cpu_text(moved, plain)}",
        ]
    )
    if ratio < TARGET:
        outcome.missed.append(f"[1] upload ratio {ratio:.2f}")
    return outcome


def read_outcome(bench: Bench) -> Outcome:
    config = bench.config
    moved = config.size * config.rounds
    service, plain = bench.reads["service"], bench.reads["plain"]
    ratio = median(bench.read_ratios)
    pooled = rate(moved, service.total) / rate(moved, plain.total)
    outcome = Outcome(
        [
            f"[2] ReadFile of the {config.size // MIB} MiB file ({READ_BLOCK // MIB} MiB messages): "
            f"service {rate(moved, service.total):.0f} MB/s, plain ranged GET of its object "
            f"{rate(moved, plain.total):.0f} MB/s, ratio {ratio:.2f} "
            f"(median of {config.rounds} rounds; target >= {TARGET}: {verdict(ratio >= TARGET)})",
            f"    ratio per round {rounds_text(bench.read_ratios)}; pooled over the rounds {pooled:.2f}",
            f"    CPU s per GiB, service run: {cpu_text(moved, service)}",
            f"    CPU s per GiB, plain run:   {cpu_text(moved, plain)}",
            f"    1 MiB from the middle (offset/length): "
            f"ReadFile {median(bench.ranged['service']) * 1000:.0f} ms, "
            f"plain ranged GET {median(bench.ranged['plain']) * 1000:.0f} ms (medians)",
        ]
    )
    if ratio < TARGET:
        outcome.missed.append(f"[2] read ratio {ratio:.2f}")
    return outcome


async def completion_outcome(bench: Bench) -> Outcome:
    """CompleteUpload when the digest is known (chunks in order, figure 1) and when it is not
    (chunks in reverse order: the object is assembled, read back and hashed)."""
    config, bucket = bench.config, bench.s3.bucket
    runs = config.rounds
    in_order = bench.uploads["service"].phases.get("complete", 0.0) / runs
    moto_complete = bench.uploads["plain"].phases.get("complete", 0.0) / runs
    lines = [
        f"[3] completion of the {config.size // MIB} MiB upload: in order (digest kept while "
        f"receiving) {in_order * 1000:.0f} ms; plain CompleteMultipartUpload on moto "
        f"{moto_complete * 1000:.0f} ms"
    ]
    spec = FileSpec(seed=10_000, size=config.size, chunk_size=CHUNK)
    sha256 = await asyncio.to_thread(sha256_of, config.source, spec)
    started = bench.meter.start()
    sample, _, stored_key = await service_upload(
        bench.service, config.source, spec, sha256, list(reversed(range(spec.chunks)))
    )
    sample.cpu = bench.meter.since(started)
    # The floor of a read-back check: GET the object and hash it here, one block after another.
    began = time.perf_counter()
    answer = await bench.plain.get_object(Bucket=bucket, Key=stored_key)
    digest = hashlib.sha256()
    async for block in answer["Body"].iter_chunks(8 * MIB):
        await asyncio.to_thread(digest.update, block)
    floor = time.perf_counter() - began
    if digest.hexdigest() != sha256:
        raise AssertionError("the stored object's SHA-256 differs")
    await bench.plain.delete_object(Bucket=bucket, Key=stored_key)
    complete = sample.phases["complete"]
    lines.append(
        f"    chunks in reverse order (assembled, read back and hashed): {complete * 1000:.0f} ms "
        f"({rate(config.size, complete):.0f} MB/s of file); its floor, moto's CompleteMultipartUpload "
        f"+ a plain GET + sha256 of the object here: {(moto_complete + floor) * 1000:.0f} ms "
        f"(GET + sha256 alone {floor * 1000:.0f} ms)"
    )
    return Outcome(lines)


async def transport_floor(config: Config) -> Outcome:
    """The same messages into, and ReadFile-sized messages out of, a do-nothing Python gRPC server
    (bench._sink): what gRPC + protobuf alone cost here, in each direction."""
    from bench._harness import SinkProcess

    spec = FileSpec(seed=0, size=config.size, chunk_size=CHUNK)
    sink = SinkProcess()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sink.port}", options=CHANNEL_OPTIONS) as channel:
            drain = channel.stream_unary(
                SINK_METHOD,
                request_serializer=uploads_pb2.UploadChunksRequest.SerializeToString,
                response_deserializer=lambda response: response,
            )
            started = time.perf_counter()
            await drain(chunk_stream(config.source, "x" * 21, spec, range(spec.chunks)))
            up = time.perf_counter() - started
            source = channel.unary_stream(
                SINK_SOURCE_METHOD,
                request_serializer=files_pb2.ReadFileRequest.SerializeToString,
                response_deserializer=files_pb2.ReadFileResponse.FromString,
            )
            started = time.perf_counter()
            count = 0
            async for message in source(files_pb2.ReadFileRequest(length=config.size)):
                count += len(message.data)
            down = time.perf_counter() - started
            if count != config.size:
                raise AssertionError(f"the sink sent {count} bytes of {config.size}")
    finally:
        sink.stop()
    return Outcome(
        [
            f"[4] transport floor, {config.size // MIB} MiB through a do-nothing Python gRPC server: "
            f"UploadChunks messages in {rate(config.size, up):.0f} MB/s, "
            f"ReadFile messages out {rate(config.size, down):.0f} MB/s"
        ]
    )


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


def pools_file(s3: Any, folder: Path) -> Path:
    """One S3 pool on moto (S3's usual 5 MiB minimum part size)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pools.toml"
    path.write_text(
        '[[pools]]\nid = "00000000-0000-4000-8000-00000000b001"\nname = "bench"\n'
        f'storage = {{ kind = "s3", bucket = "{s3.bucket}", prefix = "{PREFIX}", '
        f'endpoint = "{s3.endpoint}", region = "us-east-1", access_key_id = "{s3.access_key_id}", '
        f'secret_access_key = "{s3.secret_access_key}", addressing = "path" }}\n'
    )
    return path


async def run(config: Config) -> list[Outcome]:
    from tests.support.s3server import S3Server  # the test helper: a moto server child process

    outcomes: list[Outcome] = []
    async with AsyncExitStack() as stack:
        s3 = await stack.enter_async_context(S3Server(bucket="drive-bench"))
        plain = await stack.enter_async_context(plain_client(s3))
        database_url = None
        if config.backend == "postgresql":
            from tests.support import postgres_database  # creates and drops a fresh database

            database_url = await stack.enter_async_context(postgres_database())
        server = ServerProcess(
            config.workdir / "server",
            database_url,
            extra_env={
                "DRIVE_POOLS_FILE": str(pools_file(s3, config.workdir / "config")),
                "DRIVE_WORKER": "false",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )
        await stack.enter_async_context(serving([server]))
        assert server.process is not None and s3.pid is not None
        say(f"  moto pid {s3.pid} at {s3.endpoint}; server pid {server.process.pid} on port {server.port}")
        channel = await stack.enter_async_context(
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS)
        )
        token = await asyncio.to_thread(server.token, str(uuid.uuid4()))
        service = Service(
            uploads_pb2_grpc.UploadServiceStub(channel), files_pb2_grpc.FileServiceStub(channel), auth(token)
        )
        bench = Bench(config, s3, plain, service, Meter({"moto": s3.pid, "server": server.process.pid}))

        async def rounds() -> Outcome:
            for number in range(config.rounds):
                await one_round(bench, number)
            return upload_outcome(bench)

        if config.figures & {1, 2, 3}:
            outcomes.append(await run_figure(1, "upload", rounds))
        if 2 in config.figures and not outcomes[-1].failed:
            outcomes.append(await run_figure(2, "read", lambda: _ready(read_outcome(bench))))
        if 3 in config.figures and not outcomes[-1].failed:
            outcomes.append(await run_figure(3, "completion", lambda: completion_outcome(bench)))
        if 4 in config.figures:
            outcomes.append(await run_figure(4, "transport floor", lambda: transport_floor(config)))
        say(f"  moto RSS at the end: {s3.rss_bytes() / MIB:.0f} MiB")
    return outcomes


async def _ready(outcome: Outcome) -> Outcome:
    return outcome


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.s3_upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    parser.add_argument(
        "--rounds", type=int, default=0, help="runs of each client, alternating (default 3; 5 with --quick)"
    )
    parser.add_argument("--figures", default="1,2,3,4", help="comma-separated figure numbers (default all)")
    parser.add_argument(
        "--plain-in-flight", type=int, default=1, help="parts in flight of the plain upload (default 1)"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_script("drive-bench-s3-upload-", args.dir, lambda workdir: measure(args, workdir))


def measure(args: argparse.Namespace, workdir: Path) -> int:
    header(
        "S3 pool upload and read",
        args.quick,
        "moto and drive-service as child processes on loopback; MB = 10^6 bytes",
        code_paths=CODE_PATHS,
    )
    config = Config(
        size=256 * MIB if args.quick else GIB,
        rounds=args.rounds or (5 if args.quick else 3),
        figures={int(part) for part in args.figures.split(",") if part.strip()},
        plain_in_flight=args.plain_in_flight,
        backend=args.backend,
        workdir=workdir,
    )
    return run_figures(run(config))


if __name__ == "__main__":
    sys.exit(main())
