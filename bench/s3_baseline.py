"""S3 baselines: the adapter (``S3Store``) against plain aiobotocore calls, on one moto server.

Run from the repository root::

    .venv/bin/python -m bench.s3_baseline            # 1 GiB objects (~3 min)
    .venv/bin/python -m bench.s3_baseline --quick    # 256 MiB objects (<1 min)

A moto server runs as a child process on loopback (``tests/support/s3server.py``); the benchmark process
is its only client. Each figure prints the adapter's rate, the plain aiobotocore rate measured in
the same run with the same bytes, and their ratio: these are the baselines of issue 10's figures
("S3 pool upload vs plain multipart upload: ratio >= 0.8; ReadFile vs plain ranged GET >= 0.8").
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from bench._harness import GIB, MB, MIB, process_cpu, say
from bench._report import Outcome, header, run_figure, run_figures, run_script, verdict
from drive_service.storage.s3 import Part, S3Store

TARGET = 0.8  # issue 10's ratio for both figures
BLOCK = 1 * MIB  # read block size: ReadFile's message size
DISTINCT_PARTS = 8  # prebuilt part buffers, used in turn (S3 does not deduplicate)
CODE_PATHS = ("drive_service/storage/s3", "bench/s3_baseline.py", "tests/support/s3server.py")


@dataclass(frozen=True)
class Config:
    size: int
    part_sizes: tuple[int, ...]
    concurrencies: tuple[int, ...]
    rounds: int
    figures: set[int]


@dataclass
class Run:
    """One measured transfer: seconds of its phases, and the moto server's CPU seconds."""

    data: float = 0.0  # parts uploaded / bytes read
    complete: float = 0.0  # CompleteMultipartUpload (uploads only)
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def total(self) -> float:
        return self.data + self.complete

    def __add__(self, other: Run) -> Run:
        return Run(
            self.data + other.data,
            self.complete + other.complete,
            self.server_cpu + other.server_cpu,
            self.client_cpu + other.client_cpu,
        )


def rate(size: int, seconds: float) -> float:
    return size / MB / seconds


def versus(size: int, adapter: float, plain: float) -> str:
    return f"adapter {rate(size, adapter):.0f} MB/s, plain {rate(size, plain):.0f} MB/s"


def judged(ratio: float) -> str:
    return f"ratio {ratio:.2f} (target >= {TARGET}: {verdict(ratio >= TARGET)})"


def cpu_line(size: int, adapter: Run, plain: Run) -> str:
    """CPU seconds per GiB moved, of the moto server and of this process, adapter/plain."""
    per_gib = GIB / size
    moto = f"{adapter.server_cpu * per_gib:.1f}/{plain.server_cpu * per_gib:.1f}"
    client = f"{adapter.client_cpu * per_gib:.1f}/{plain.client_cpu * per_gib:.1f}"
    return f"CPU s per GiB adapter/plain: moto {moto}, client {client}"


# ----------------------------------------------------------------------------------------------
# The two clients
# ----------------------------------------------------------------------------------------------


def plain_client(server: Any) -> Any:
    """A plain aiobotocore S3 client to the server, with the adapter's transport settings (pool
    size; no extra body checksums, which botocore >= 1.36 would otherwise compute on every part)
    so that the ratio measures the adapter, not a configuration difference."""
    config = AioConfig(
        max_pool_connections=32,
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return AioSession().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=config,
    )


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """The same scheduler for both clients: at most ``limit`` calls in flight."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


def part_list(size: int, part_size: int, pieces: Sequence[bytes]) -> list[bytes]:
    """``size`` bytes as parts (the last shorter), each a prebuilt buffer or a slice of one."""
    parts = []
    for index, start in enumerate(range(0, size, part_size)):
        piece = pieces[index % len(pieces)]
        length = min(part_size, size - start)
        parts.append(piece if length == len(piece) else piece[:length])
    return parts


async def upload_plain(client: Any, bucket: str, key: str, parts: list[bytes], limit: int) -> Run:
    started = time.perf_counter()
    upload_id = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]

    async def put(number: int, data: bytes) -> dict[str, Any]:
        answer = await client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    done = await bounded([lambda n=n, d=d: put(n, d) for n, d in enumerate(parts, 1)], limit)
    middle = time.perf_counter()
    await client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    return Run(data=middle - started, complete=time.perf_counter() - middle)


async def upload_store(store: S3Store, key: str, parts: list[bytes], limit: int) -> Run:
    started = time.perf_counter()
    upload_id = await store.create_multipart(key)

    async def put(number: int, data: bytes) -> Part:
        return Part(number, await store.upload_part(key, upload_id, number, data))

    done = await bounded([lambda n=n, d=d: put(n, d) for n, d in enumerate(parts, 1)], limit)
    middle = time.perf_counter()
    await store.complete_multipart(key, upload_id, done)
    return Run(data=middle - started, complete=time.perf_counter() - middle)


async def read_plain(client: Any, bucket: str, key: str, size: int) -> tuple[Run, int]:
    started = time.perf_counter()
    answer = await client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")
    count = 0
    async for block in answer["Body"].iter_chunks(BLOCK):
        count += len(block)
    return Run(data=time.perf_counter() - started), count


async def read_store(store: S3Store, key: str, size: int, block: int | None = BLOCK) -> tuple[Run, int]:
    started = time.perf_counter()
    count = 0
    async with await store.open_range(key, 0, size, block_size=block) as stream:
        async for block in stream:
            count += len(block)
    return Run(data=time.perf_counter() - started), count


async def measured_read(server: Any, read: Callable[[], Awaitable[tuple[Run, int]]]) -> tuple[Run, int]:
    """``measured`` for a read, which also returns the bytes it counted."""
    count = 0

    async def work() -> Run:
        nonlocal count
        run, count = await read()
        return run

    return await measured(server, work()), count


async def measured(server: Any, work: Awaitable[Run]) -> Run:
    """``work`` with the server's and this process's CPU seconds added."""
    server_cpu, client_cpu = process_cpu(server.pid), time.process_time()
    run = await work
    run.server_cpu = process_cpu(server.pid) - server_cpu
    run.client_cpu = time.process_time() - client_cpu
    return run


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


async def figure_upload(
    config: Config, server: Any, client: Any, store: S3Store, pieces: dict[int, list[bytes]]
) -> Outcome:
    """Multipart upload of ``size`` bytes, adapter vs plain, per part size and concurrency."""
    size = config.size
    title = (
        f"[1] multipart upload of {size // MIB} MiB (create + parts + complete), adapter/plain aiobotocore:"
    )
    outcome = Outcome([title])
    for part_size in config.part_sizes:
        parts = part_list(size, part_size, pieces[part_size])
        for limit in config.concurrencies:
            plain, adapter = Run(), Run()
            for round_ in range(config.rounds):  # ABBA: drift of the machine cancels out
                order = ("plain", "adapter") if round_ % 2 == 0 else ("adapter", "plain")
                for which in order:
                    key = f"bench/up-{part_size}-{limit}-{round_}-{which}"
                    if which == "plain":
                        plain += await measured(
                            server, upload_plain(client, server.bucket, key, parts, limit)
                        )
                    else:
                        adapter += await measured(server, upload_store(store, key, parts, limit))
                    await client.delete_object(Bucket=server.bucket, Key=key)  # moto holds it in memory
            moved = size * config.rounds
            ratio = rate(moved, adapter.total) / rate(moved, plain.total)
            label = f"{part_size // MIB} MiB parts, {limit} in flight"
            outcome.lines.append(f"  {label}: {versus(moved, adapter.total, plain.total)}, {judged(ratio)}")
            complete = (
                f"{adapter.complete / config.rounds * 1000:.0f}/{plain.complete / config.rounds * 1000:.0f}"
            )
            outcome.lines.append(
                f"    parts only: {versus(moved, adapter.data, plain.data)}; complete: {complete} ms; "
                + cpu_line(moved, adapter, plain)
            )
            if ratio < TARGET:
                outcome.missed.append(f"upload {label} ratio {ratio:.2f}")
    outcome.lines.append(f"  moto server RSS after the figure: {server.rss_bytes() / MIB:.0f} MiB")
    return outcome


async def figure_read(
    config: Config, server: Any, client: Any, store: S3Store, pieces: dict[int, list[bytes]]
) -> Outcome:
    """One ranged GET of the whole object streamed in 1 MiB blocks, adapter vs plain; and what a
    small ranged GET costs on moto."""
    size = config.size
    key = "bench/read"
    await upload_plain(client, server.bucket, key, part_list(size, 16 * MIB, pieces[16 * MIB]), 4)
    readers: dict[str, Callable[[], Awaitable[tuple[Run, int]]]] = {
        "plain": lambda: read_plain(client, server.bucket, key, size),
        "adapter": lambda: read_store(store, key, size),
        "as received": lambda: read_store(store, key, size, None),
    }
    runs = {name: Run() for name in readers}
    for round_ in range(config.rounds):
        names = list(readers) if round_ % 2 == 0 else list(reversed(readers))  # drift cancels out
        for name in names:
            run, count = await measured_read(server, readers[name])
            if count != size:
                raise AssertionError(f"{name} read {count} bytes of {size}")
            runs[name] += run
    plain, adapter, received = runs["plain"], runs["adapter"], runs["as received"]
    moved = size * config.rounds
    ratio = rate(moved, adapter.total) / rate(moved, plain.total)
    outcome = Outcome(
        [
            f"[2] ranged GET of {size // MIB} MiB streamed in {BLOCK // MIB} MiB blocks: "
            f"{versus(moved, adapter.total, plain.total)}, {judged(ratio)}",
            "  " + cpu_line(moved, adapter, plain),
            f"  adapter, blocks as received (block_size=None: no join): {rate(moved, received.total):.0f} "
            f"MB/s, ratio {rate(moved, received.total) / rate(moved, plain.total):.2f}, "
            f"client CPU {received.client_cpu * GIB / moved:.1f} s per GiB",
        ]
    )
    if ratio < TARGET:
        outcome.missed.append(f"ranged GET ratio {ratio:.2f}")
    small = []
    for offset in (0, size // 2, size - MIB):
        started = time.perf_counter()
        await store.read(key, offset, MIB)
        small.append(time.perf_counter() - started)
    await store.put_object("bench/small", pieces[16 * MIB][0])
    started = time.perf_counter()
    await store.read("bench/small", 0, MIB)
    small_object = time.perf_counter() - started
    outcome.lines.append(
        f"  one 1 MiB ranged GET: {min(small) * 1000:.0f} ms on the {size // MIB} MiB object, "
        f"{small_object * 1000:.0f} ms on a 16 MiB one (moto loads the whole object per GET)"
    )
    return outcome


async def figure_verify(config: Config, server: Any, store: S3Store) -> Outcome:
    """SHA-256 of the stored object by reading it back (what completion costs without a resumable
    hash state), against hashing the same bytes already in memory."""
    size = config.size
    key = "bench/read"
    started = time.perf_counter()
    digest = hashlib.sha256()
    pending: asyncio.Future[None] | None = None
    async with await store.open_range(key, block_size=8 * MIB) as stream:
        async for block in stream:
            # hashlib releases the GIL on big buffers: hash block n in a thread while n+1 arrives.
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(asyncio.to_thread(digest.update, block))
    if pending is not None:
        await pending
    read_back = time.perf_counter() - started
    data = os.urandom(64 * MIB)
    started = time.perf_counter()
    floor = hashlib.sha256()
    for _ in range(size // len(data)):
        floor.update(data)
    in_memory = time.perf_counter() - started
    return Outcome(
        [
            f"[3] SHA-256 check of {size // MIB} MiB by reading the object back: {read_back:.2f} s "
            f"({rate(size, read_back):.0f} MB/s); hashlib over the bytes in memory: {in_memory:.2f} s "
            f"({rate(size, in_memory):.0f} MB/s); ratio {in_memory / read_back:.2f}"
        ]
    )


async def run(config: Config) -> list[Outcome]:
    from tests.support.s3server import S3Server  # the test helper: a moto server child process

    outcomes = []
    async with S3Server(bucket="drive-bench") as server, plain_client(server) as client:
        say(f"  moto server pid {server.pid} at {server.endpoint}")
        async with S3Store(server.config()) as store:
            await store.probe()
            pieces = {
                part: [os.urandom(part) for _ in range(DISTINCT_PARTS)]
                for part in {*config.part_sizes, 16 * MIB}
            }
            if 1 in config.figures:
                outcomes.append(
                    await run_figure(
                        1, "upload", lambda: figure_upload(config, server, client, store, pieces)
                    )
                )
            if 2 in config.figures or 3 in config.figures:
                outcomes.append(
                    await run_figure(2, "read", lambda: figure_read(config, server, client, store, pieces))
                )
            if 3 in config.figures:
                outcomes.append(await run_figure(3, "verify", lambda: figure_verify(config, server, store)))
    return outcomes


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.s3_baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB objects instead of 1 GiB")
    parser.add_argument("--figures", default="1,2,3", help="comma-separated figure numbers (default all)")
    parser.add_argument("--part-mib", default="5,16", help="part sizes of figure 1 (default 5,16)")
    parser.add_argument("--concurrency", default="1,4", help="parts in flight in figure 1 (default 1,4)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each client per setting (default 2)")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_script("drive-bench-s3-", args.dir, lambda workdir: measure(args))


def measure(args: argparse.Namespace) -> int:
    header(
        "S3 baseline",
        args.quick,
        "moto server child process on loopback; MB = 10^6 bytes",
        code_paths=CODE_PATHS,
    )
    config = Config(
        size=256 * MIB if args.quick else GIB,
        part_sizes=tuple(int(part) * MIB for part in args.part_mib.split(",")),
        concurrencies=tuple(int(part) for part in args.concurrency.split(",")),
        rounds=args.rounds,
        figures={int(part) for part in args.figures.split(",") if part.strip()},
    )
    return run_figures(run(config))


if __name__ == "__main__":
    sys.exit(main())
