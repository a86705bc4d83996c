"""Event delivery: progress-to-WatchTasks latency in one instance and across two instances through
Redis, and the events per second one instance delivers to 100 WatchTasks subscribers.

Run from the repository root::

    .venv/bin/python -m bench.events                        # full run (~1.5 min)
    .venv/bin/python -m bench.events --quick                # smoke run (<1 min)
    .venv/bin/python -m bench.events --backend postgresql   # figures 1 and 3 on PostgreSQL too

Servers are ``python -m drive_service serve`` child processes (the harness's, on private data
dirs). Figures 1 and 3 run on SQLite (and on a fresh PostgreSQL database with ``--backend
postgresql``); figure 2 needs PostgreSQL and Redis (``DRIVE_TEST_DATABASE_URL`` or the local
default, ``--redis``, database 14 by default) and is skipped with the reason printed when either
is not reachable. Every figure prints its value and its ratio to a baseline measured in the same
run: the round trip of a bare unary call (GetTask) on the server the updates go to (figures 1 and
2), and the producer's event rate with no subscriber, times the number of subscribers (figure 3).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._harness import PipeProcess, ServerProcess, median, percentile, process_cpu, say, serving
from bench._report import Outcome, describe, header, run_figure, run_figures, run_script, verdict
from bench.uploads import database_floors
from drive.v1 import events_pb2, task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from drive_service.config import JwtSettings
from drive_service.services.tokens import mint

PG_ENV = "DRIVE_TEST_DATABASE_URL"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
TARGET_LOCAL_P99_MS = 5.0
TARGET_REMOTE_P99_MS = 10.0
#: Updates per task: progress 5, 10, ..., 95, each >= 5 points past the last sent event, so the
#: throttle (docs/contract.md#events) lets every one through; then a fresh task.
STEPS = 19
EVENT_WAIT = 10.0
CHILD_WAIT = 90.0
JWT_SECRET = "bench-events-secret-that-is-long-enough-for-hs256-" + secrets.token_hex(8)
JWT = JwtSettings(secret=JWT_SECRET, public_key=None, algorithms=("HS256",), issuer=None, audience=None)
#: Rate limits stay on (with Redis their bucket is a round trip per call, as in production) but
#: never refuse: the benchmark calls far faster than the defaults allow one account.
NO_REFUSALS = "read=1000000/1000000,write=1000000/1000000"


@dataclass
class Config:
    quick: bool
    figures: set[int]
    backends: list[str]
    updates: int
    subscribers: int
    producers: int
    seconds: float
    postgres_url: str
    redis_url: str
    workdir: Path
    profile_dir: Path | None
    master_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())


# ----------------------------------------------------------------------------------------------
# Servers, databases, tokens
# ----------------------------------------------------------------------------------------------


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.asynccontextmanager
async def running_servers(
    config: Config, name: str, database_url: str | None, count: int = 1, redis_url: str | None = None
) -> AsyncIterator[list[ServerProcess]]:
    """``count`` servers on one database, started one after the other (the first migrates); with
    ``redis_url``, each has logged that Redis confirmed its event subscription before this yields.
    Stopped with SIGTERM and their data dirs removed afterwards (``serving``). Under cProfile with
    ``--profile`` (the server exits normally on SIGTERM, so the profile is written)."""
    env = {
        "DRIVE_JWT_SECRET": JWT_SECRET,  # one token works on every instance
        "DRIVE_MASTER_KEY": config.master_key,
        "DRIVE_WORKER": "false",  # no queue polling in the background: Custom tasks are external
        "DRIVE_RATE_LIMITS": NO_REFUSALS,
        "LOG_LEVEL": "WARNING,drive_service.app:INFO,drive_service.storage.redis_bus:INFO",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    servers = []
    for index in range(count):
        label = f"{name}-{'AB'[index] if count > 1 else 'server'}"
        profile = config.profile_dir / f"{label}.prof" if config.profile_dir else None
        servers.append(ServerProcess(config.workdir / label, database_url, dict(env), profile=profile))
    async with serving(servers):
        if redis_url:
            for server in servers:
                await asyncio.to_thread(server.wait_logged, "events subscribed")
        yield servers


async def connect(url: str, timeout: float) -> Any:
    """An asyncpg connection to the database of ``url`` (defaults: postgres@127.0.0.1:5432/postgres)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    return await asyncpg.connect(
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        user=base.username or "postgres",
        password=base.password,
        database=base.database or "postgres",
        timeout=timeout,
    )


@contextlib.asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database on the server of ``url``; dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"drive_bench_events_{uuid.uuid4().hex[:10]}"
    admin = await connect(url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        database = make_url(url).set(drivername="postgresql+asyncpg", database=name)
        yield database.render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def database_for(config: Config, backend: str) -> AsyncIterator[str | None]:
    """None (SQLite in the server's data dir) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    async with fresh_database(config.postgres_url) as url:
        yield url


async def unreachable(config: Config, redis_too: bool) -> str | None:
    """Why PostgreSQL (and Redis) cannot be used, or None when they answer."""
    import redis.asyncio as redis
    from sqlalchemy.engine import make_url

    try:
        connection = await connect(config.postgres_url, timeout=5)
        await connection.close()
    except Exception as error:
        where = make_url(config.postgres_url).render_as_string()
        return f"PostgreSQL at {where} is not reachable ({type(error).__name__}: {error})"
    if redis_too:
        client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        except Exception as error:
            return f"Redis at {config.redis_url} is not reachable ({type(error).__name__}: {error})"
        finally:
            await client.aclose()
    return None


def metadata_for(account_id: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {mint(JWT, account_id, timedelta(hours=2))}"),)


def channel_to(server: ServerProcess) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")


def custom_task(name: str) -> tasks_pb2.CreateTaskRequest:
    # Custom: no built-in handler claims it, so its progress is reported by the caller (us).
    return tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name=name)


# ----------------------------------------------------------------------------------------------
# Figures 1 and 2: update -> event latency
# ----------------------------------------------------------------------------------------------


class Watch:
    """A WatchTasks stream (live only) read by a background task that queues every event with the
    ``time.perf_counter()`` and ``time.time()`` of the moment ``read()`` returned it."""

    def __init__(self, stub: tasks_pb2_grpc.TaskServiceStub, metadata: tuple[tuple[str, str], ...]) -> None:
        self.stream = stub.WatchTasks(tasks_pb2.WatchTasksRequest(), metadata=metadata)
        self.arrivals: asyncio.Queue[tuple[float, float, events_pb2.TaskEvent]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # WatchTasks sends its headers once the subscription is open: nothing after is missed.
        await self.stream.wait_for_connection()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            response = await self.stream.read()
            arrived, wall = time.perf_counter(), time.time()
            if response is grpc.aio.EOF:
                return
            self.arrivals.put_nowait((arrived, wall, response.event))

    async def expect(self, task_id: str, kind: str, progress: float | None = None) -> tuple[float, float]:
        """The next event, which must be ``kind`` of ``task_id`` (at ``progress``): its arrival
        (``perf_counter``) and the milliseconds from its ``created_at`` (the server's wall clock,
        taken inside the write transaction, before the commit) to its arrival (same machine, same
        clock)."""
        assert self._reader is not None
        get = asyncio.ensure_future(self.arrivals.get())
        done, _ = await asyncio.wait(
            {get, self._reader}, timeout=EVENT_WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        if get not in done:
            get.cancel()
            if self._reader in done:
                self._reader.result()  # the stream's error, if it failed
                raise RuntimeError("the WatchTasks stream ended")
            raise RuntimeError(f"no {kind} event for {task_id} within {EVENT_WAIT:.0f} s")
        arrived, wall, event = get.result()
        seen = event.data.fields["progress"].number_value if "progress" in event.data.fields else None
        if event.task_id != task_id or event.type != kind or (progress is not None and seen != progress):
            raise RuntimeError(
                f"expected {kind} of {task_id} (progress {progress}), got {event.type} of {event.task_id} "
                f"(progress {seen})"
            )
        recorded = event.created_at.seconds + event.created_at.nanos / 1e9
        return arrived, (wall - recorded) * 1000

    async def close(self) -> None:
        self.stream.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._reader


@dataclass
class LatencyRun:
    """Milliseconds per measured update (or per baseline call)."""

    arrivals: dict[str, list[float]]  # per watch: update sent -> event read by the subscriber
    since_recorded: dict[str, list[float]]  # per watch: the event's created_at -> event read
    responses: list[float]  # update sent -> its response
    baseline: list[float]  # GetTask round trips
    transport: list[float]  # health check round trips (no token, no database)


async def measure_latency(
    channel: grpc.aio.Channel,
    watches: dict[str, Watch],
    metadata: tuple[tuple[str, str], ...],
    count: int,
    warm_up_tasks: int = 1,
) -> LatencyRun:
    """``count`` measured UpdateTaskProgress calls (after ``warm_up_tasks`` x 19 untimed ones).

    Per task: CreateTask (untimed; its task.created is read from every watch), then a block of
    GetTask round trips on the same server (the baseline, as many as the block's updates, each
    followed by a health check: the transport floor), then the block of updates, one at a time:
    each is timed from just before the call is sent until every watch has read its event (each
    watch's own arrival time is kept).
    """
    updater = tasks_pb2_grpc.TaskServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    run = LatencyRun({name: [] for name in watches}, {name: [] for name in watches}, [], [], [])
    done = cycle = 0
    while done < count:
        measured = cycle >= warm_up_tasks
        steps = min(STEPS, count - done) if measured else STEPS
        task = (await updater.CreateTask(custom_task(f"bench {cycle}"), metadata=metadata)).task
        for watch in watches.values():
            await watch.expect(task.task_id, "task.created")
        get = tasks_pb2.GetTaskRequest(task_id=task.task_id)
        for _ in range(steps):
            started = time.perf_counter()
            await updater.GetTask(get, metadata=metadata)
            middle = time.perf_counter()
            await health.Check(health_pb2.HealthCheckRequest())
            if measured:
                run.baseline.append((middle - started) * 1000)
                run.transport.append((time.perf_counter() - middle) * 1000)
        for step in range(1, steps + 1):
            progress = 5.0 * step
            request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=progress)
            started = time.perf_counter()
            await updater.UpdateTaskProgress(request, metadata=metadata)
            answered = time.perf_counter()
            arrivals = {
                name: await watch.expect(task.task_id, "task.progress", progress)
                for name, watch in watches.items()
            }
            if measured:
                run.responses.append((answered - started) * 1000)
                for name, (arrived, since_recorded) in arrivals.items():
                    run.arrivals[name].append((arrived - started) * 1000)
                    run.since_recorded[name].append(since_recorded)
        if measured:
            done += steps
        cycle += 1
    return run


def p50_p99(values: Sequence[float]) -> str:
    return f"p50 {median(values):.2f} ms, p99 {percentile(values, 0.99):.2f} ms"


def latency_outcome(
    number: int, title: str, samples: list[float], baseline: list[float], target: float
) -> Outcome:
    p50, p99 = median(samples), percentile(samples, 0.99)
    b50, b99 = median(baseline), percentile(baseline, 0.99)
    ok = p99 < target
    line = (
        f"[{number}] {title}, {len(samples)} updates: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"| baseline GetTask round trip p50 {b50:.2f} ms, p99 {b99:.2f} ms "
        f"| ratio p50 {p50 / b50:.1f}x, p99 {p99 / b99:.1f}x baseline "
        f"(target p99 < {target:.0f} ms: {verdict(ok)})"
    )
    missed = [] if ok else [f"[{number}] p99 {p99:.2f} ms >= {target:.0f} ms"]
    return Outcome([line], missed)


async def local_latency(config: Config, backend: str) -> Outcome:
    """Figure 1: update and subscriber on the same server (no Redis)."""
    async with (
        database_for(config, backend) as url,
        running_servers(config, f"fig1-{backend}", url) as servers,
    ):
        server = servers[0]
        metadata = metadata_for(str(uuid.uuid4()))
        async with channel_to(server) as update_channel, channel_to(server) as watch_channel:
            watch = Watch(tasks_pb2_grpc.TaskServiceStub(watch_channel), metadata)
            await watch.start()
            try:
                cpu = server.cpu_seconds()
                started = time.perf_counter()
                run = await measure_latency(
                    update_channel,
                    {"subscriber": watch},
                    metadata,
                    config.updates,
                )
                elapsed = time.perf_counter() - started
                cpu = server.cpu_seconds() - cpu
            finally:
                await watch.close()
        floors = await database_floors(backend, server)
    samples = run.arrivals["subscriber"]
    outcome = latency_outcome(
        1,
        f"progress update -> WatchTasks event, same server ({backend}, 1 server process)",
        samples,
        run.baseline,
        TARGET_LOCAL_P99_MS,
    )
    after_response = [arrival - response for arrival, response in zip(samples, run.responses, strict=True)]
    outcome.lines += [
        f"    UpdateTaskProgress round trip: {p50_p99(run.responses)}; event read minus that round trip: "
        f"{p50_p99(after_response)} (negative: the event came first)",
        f"    from the event's created_at (server clock, in the write transaction before its commit) to "
        f"its arrival: {p50_p99(run.since_recorded['subscriber'])}",
        f"    server CPU during the figure: {cpu / elapsed:.0%} of one core",
        f"    floor: gRPC health check round trip (no token, no database): {p50_p99(run.transport)}",
        floor_line(backend, floors),
    ]
    return outcome


def floor_line(backend: str, floors: dict[str, list[float]]) -> str:
    """The database's own cost (bench.uploads.database_floors: no service, no gRPC)."""
    return f"    floor: raw {backend} from this process, " + "; ".join(
        f"{name} {p50_p99(values)}" for name, values in floors.items()
    )


async def redis_floor(url: str, count: int) -> list[float]:
    """Milliseconds from PUBLISH to the message read by a subscriber, with redis-py in this process,
    on a channel of its own (a ~400-byte JSON payload, the size of one encoded progress event)."""
    import redis.asyncio as redis

    channel = f"bench:events:{uuid.uuid4().hex}"
    payload = json.dumps({"instance": "x" * 21, "events": [{"data": "y" * 300}]})
    publisher = redis.Redis.from_url(url)
    subscriber = redis.Redis.from_url(url)
    samples: list[float] = []
    try:
        async with subscriber.pubsub() as pubsub:
            await pubsub.subscribe(channel)
            while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                pass
            for number in range(count + 20):
                started = time.perf_counter()
                await publisher.publish(channel, payload)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        raise RuntimeError("a Redis message did not arrive within 5 s")
                    if message["type"] == "message":
                        break
                if number >= 20:
                    samples.append((time.perf_counter() - started) * 1000)
    finally:
        await publisher.aclose()
        await subscriber.aclose()
    return samples


async def remote_latency(config: Config) -> Outcome:
    """Figure 2: update on instance A, subscriber on instance B (and, for comparison, one on A)."""
    async with (
        fresh_database(config.postgres_url) as url,
        running_servers(config, "fig2-postgresql", url, count=2, redis_url=config.redis_url) as (a, b),
    ):
        metadata = metadata_for(str(uuid.uuid4()))
        async with channel_to(a) as update_channel, channel_to(a) as a_channel, channel_to(b) as b_channel:
            remote = Watch(tasks_pb2_grpc.TaskServiceStub(b_channel), metadata)
            local = Watch(tasks_pb2_grpc.TaskServiceStub(a_channel), metadata)
            await remote.start()
            await local.start()
            try:
                cpu = (a.cpu_seconds(), b.cpu_seconds())
                started = time.perf_counter()
                # The warm-up task's events reach B only through Redis: they prove the path.
                run = await measure_latency(
                    update_channel,
                    {"B": remote, "A": local},
                    metadata,
                    config.updates,
                )
                elapsed = time.perf_counter() - started
                cpu = (a.cpu_seconds() - cpu[0], b.cpu_seconds() - cpu[1])
            finally:
                await remote.close()
                await local.close()
        floor = await redis_floor(config.redis_url, config.updates)
        floors = await database_floors("postgresql", a)
    samples, local_samples = run.arrivals["B"], run.arrivals["A"]
    outcome = latency_outcome(
        2,
        "progress update on A -> WatchTasks event on B, two server processes on one PostgreSQL "
        "database, through Redis",
        samples,
        run.baseline,
        TARGET_REMOTE_P99_MS,
    )
    hop = [remote_ms - local_ms for remote_ms, local_ms in zip(samples, local_samples, strict=True)]
    outcome.lines += [
        f"    the same updates at a subscriber on A itself (no Redis hop): {p50_p99(local_samples)}",
        f"    B's arrival minus A's, per update (the Redis hop as seen by clients): {p50_p99(hop)}",
        f"    UpdateTaskProgress round trip on A: {p50_p99(run.responses)}",
        f"    from the event's created_at (A's clock, in the write transaction before its commit) to its "
        f"arrival: on B {p50_p99(run.since_recorded['B'])}; on A {p50_p99(run.since_recorded['A'])}",
        f"    server CPU during the figure: A {cpu[0] / elapsed:.0%}, B {cpu[1] / elapsed:.0%} of one core",
        f"    floor: gRPC health check round trip on A (no token, no database): {p50_p99(run.transport)}",
        f"    floor: Redis PUBLISH -> subscriber read, redis-py in this process: {p50_p99(floor)}",
        floor_line("postgresql", floors),
    ]
    return outcome


# ----------------------------------------------------------------------------------------------
# Figure 3: fan-out to many subscribers
# ----------------------------------------------------------------------------------------------


@dataclass
class Production:
    events: int  # task.created + task.progress events the calls produced
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def produce(
    stub: tasks_pb2_grpc.TaskServiceStub, metadata: tuple[tuple[str, str], ...], lanes: int, seconds: float
) -> Production:
    """``lanes`` concurrent callers, each creating a task and reporting progress 5..95 on it (one
    event per call), then the next task, until ``seconds`` have passed."""
    deadline = time.perf_counter() + seconds

    async def lane(number: int) -> int:
        events = 0
        while time.perf_counter() < deadline:
            task = (await stub.CreateTask(custom_task(f"producer {number}"), metadata=metadata)).task
            events += 1
            for step in range(1, STEPS + 1):
                if time.perf_counter() >= deadline:
                    break
                request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=5.0 * step)
                await stub.UpdateTaskProgress(request, metadata=metadata)
                events += 1
        return events

    started = time.perf_counter()
    counts = await asyncio.gather(*(lane(number) for number in range(lanes)))
    return Production(sum(counts), time.perf_counter() - started)


class SubscriberProcess(PipeProcess):
    """``python -m bench.events --child-port P --child-subscribers N``: N WatchTasks streams in
    their own process (so that reading them does not slow the producer's event loop)."""

    def __init__(self, port: int, count: int, token: str) -> None:
        arguments = ["bench.events", "--child-port", str(port), "--child-subscribers", str(count)]
        super().__init__(arguments, env={**os.environ, "BENCH_EVENTS_TOKEN": token}, stdin=True)

    async def line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        if not text:
            raise RuntimeError(f"the subscriber process exited with {self.process.wait(10)}")
        return text.strip()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()


async def fan_out(config: Config, backend: str) -> Outcome:
    """Figure 3: events/s delivered to ``config.subscribers`` WatchTasks streams of one account."""
    lanes, seconds, subscribers = config.producers, config.seconds, config.subscribers
    async with (
        database_for(config, backend) as url,
        running_servers(config, f"fig3-{backend}", url) as servers,
    ):
        server = servers[0]
        account = str(uuid.uuid4())
        metadata = metadata_for(account)
        async with channel_to(server) as channel:
            stub = tasks_pb2_grpc.TaskServiceStub(channel)
            await produce(stub, metadata, lanes, min(1.0, seconds / 2))  # warm-up, untimed
            before = await produce(stub, metadata, lanes, seconds)
            child = SubscriberProcess(server.port, subscribers, metadata[0][1].removeprefix("Bearer "))
            try:
                if (ready := await child.line(CHILD_WAIT)) != "ready":
                    raise RuntimeError(f"the subscriber process said {ready!r}")
                cpu = (server.cpu_seconds(), process_cpu(child.process.pid), own_cpu())
                started = time.perf_counter()
                during = await produce(stub, metadata, lanes, seconds)
                stopped = time.perf_counter()
                child.send(f"expect {during.events}")
                result: dict[str, Any] = json.loads(await child.line(CHILD_WAIT + 10))
                finished = result["last"]
                cpu = (
                    server.cpu_seconds() - cpu[0],
                    result["cpu"],
                    own_cpu() - cpu[2],
                )
            finally:
                child.stop()
            after = await produce(stub, metadata, lanes, seconds)
    counts: list[int] = result["counts"]
    delivered = sum(counts)
    expected = subscribers * during.events
    window = finished - started
    rate = delivered / window
    in_window = sum(n for bucket, n in result["buckets"] if bucket / 100 < stopped) / (stopped - started)
    baseline = (before.events + after.events) / (before.seconds + after.seconds)
    ideal = subscribers * baseline
    complete = delivered == expected and result["disorder"] == 0 and not result["ended"]
    line = (
        f"[3] events delivered to {subscribers} WatchTasks subscribers of one account ({backend}, "
        f"1 server process, {lanes} producers for {seconds:.0f} s): {rate:,.0f} events/s "
        f"| baseline {subscribers} x {baseline:,.0f} events/s produced with no subscriber = {ideal:,.0f} "
        f"| ratio {rate / ideal:.2f} (no target; "
        + ("every event delivered once, in order)" if complete else "INCOMPLETE delivery)")
    )
    details = [
        f"    delivered {delivered:,} of {expected:,} ({during.events:,} events x {subscribers}); "
        f"per subscriber min {min(counts):,}, max {max(counts):,}; out of order or duplicated: "
        f"{result['disorder']}; streams ended early: {result['ended']}"
        + (f" ({'; '.join(result['errors'])})" if result["errors"] else ""),
        f"    rate = delivered / (last delivery - production start); during production only: "
        f"{in_window:,.0f} events/s; last delivery {(finished - stopped) * 1000:.0f} ms after the "
        "producers' last response (negative: before it)",
        f"    producer with subscribers: {during.rate:,.0f} events/s ({during.rate / baseline:.0%} of the "
        f"no-subscriber rate; no-subscriber runs before/after {before.rate:,.0f}/{after.rate:,.0f} events/s)",
        f"    CPU until the last delivery, share of one core: server {cpu[0] / window:.0%}, subscriber "
        f"process {cpu[1] / window:.0%}, producer {cpu[2] / window:.0%} ({os.cpu_count()} CPUs)",
    ]
    return Outcome([line, *details], failed=not complete)


async def subscriber_child(port: int, count: int) -> int:
    """The figure-3 subscriber process: prints ``ready`` once every stream is subscribed, then on
    ``expect N`` waits until every stream has read N events and prints one JSON line."""
    metadata = (("authorization", f"Bearer {os.environ['BENCH_EVENTS_TOKEN']}"),)
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(max(1, count // 10))]
    streams = [
        tasks_pb2_grpc.TaskServiceStub(channels[number % len(channels)]).WatchTasks(
            tasks_pb2.WatchTasksRequest(), metadata=metadata
        )
        for number in range(count)
    ]
    await asyncio.gather(*(stream.wait_for_connection() for stream in streams))
    counts = [0] * count
    last_sequence = [0] * count
    disorder = 0
    last_arrival = 0.0
    buckets: Counter[int] = Counter()  # arrivals per 10 ms of time.perf_counter() (CLOCK_MONOTONIC)
    target = [-1]
    reached = asyncio.Event()
    short = [count]

    async def read(number: int, stream: Any) -> None:
        nonlocal disorder, last_arrival
        async for response in stream:
            now = time.perf_counter()
            sequence = response.event.sequence
            if sequence <= last_sequence[number]:
                disorder += 1
            last_sequence[number] = sequence
            counts[number] += 1
            last_arrival = now
            buckets[int(now * 100)] += 1
            if counts[number] == target[0]:
                short[0] -= 1
                if short[0] == 0:
                    reached.set()

    readers = [asyncio.create_task(read(number, stream)) for number, stream in enumerate(streams)]
    cpu = own_cpu()
    print("ready", flush=True)
    command = (await asyncio.to_thread(sys.stdin.readline)).split()
    if command[:1] == ["expect"]:
        target[0] = int(command[1])
        short[0] = sum(1 for seen in counts if seen < target[0])
        if short[0] == 0:
            reached.set()
        # Stop waiting when every stream has what was sent, or when none is left open.
        waiting = {asyncio.ensure_future(reached.wait()), asyncio.gather(*readers, return_exceptions=True)}
        await asyncio.wait(waiting, timeout=CHILD_WAIT, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiting:
            waiter.cancel()
    ended = [reader for reader in readers if reader.done() and not reader.cancelled()]
    errors = sorted({describe(error) for reader in ended if (error := reader.exception())})
    result = {
        "counts": counts,
        "ended": len(ended),
        "errors": errors,
        "disorder": disorder,
        "last": last_arrival,
        "buckets": sorted(buckets.items()),
        "cpu": own_cpu() - cpu,
    }
    print(json.dumps(result), flush=True)
    for stream in streams:
        stream.cancel()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return 0


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


async def run(config: Config) -> list[Outcome]:
    plan: list[tuple[int, str, Any]] = []
    for backend in config.backends:
        plan.append((1, f"latency {backend}", lambda backend=backend: local_latency(config, backend)))
    plan.append((2, "latency across instances", lambda: remote_latency(config)))
    for backend in config.backends:
        plan.append((3, f"fan-out {backend}", lambda backend=backend: fan_out(config, backend)))
    outcomes = []
    for number, name, figure in plan:
        if number not in config.figures:
            continue
        if number == 2 or "postgresql" in name:
            reason = await unreachable(config, redis_too=number == 2)
            if reason:
                say(f"[{number}] {name}: skipped: {reason}")
                continue
        outcomes.append(await run_figure(number, name, figure))
    return outcomes


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 updates, 2 s producer runs")
    parser.add_argument("--figures", default="1,2,3", help="comma-separated figures to run (default 1,2,3)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: figures 1 and 3 on PostgreSQL too (default: SQLite only)",
    )
    parser.add_argument("--updates", type=int, default=None, help="measured updates of figures 1-2 (500)")
    parser.add_argument("--subscribers", type=int, default=100, help="WatchTasks streams of figure 3 (100)")
    parser.add_argument("--producers", type=int, default=4, help="concurrent producers of figure 3 (4)")
    parser.add_argument("--seconds", type=float, default=None, help="each figure-3 producer run (5 s)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(PG_ENV) or DEFAULT_POSTGRES,
        help=f"PostgreSQL server for fresh databases (default ${PG_ENV} or {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis of figure 2 (default {DEFAULT_REDIS})")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    parser.add_argument(
        "--profile", type=Path, default=None, help="run the servers under cProfile, writing DIR/<server>.prof"
    )
    parser.add_argument("--child-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-subscribers", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.child_port:
        return asyncio.run(subscriber_child(args.child_port, args.child_subscribers))
    return run_script("drive-bench-events-", args.dir, lambda workdir: measure(args, workdir))


def measure(args: argparse.Namespace, workdir: Path) -> int:
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    config = Config(
        quick=args.quick,
        figures={int(part) for part in args.figures.split(",") if part.strip()},
        backends=["sqlite", "postgresql"] if args.backend == "postgresql" else ["sqlite"],
        updates=args.updates or (150 if args.quick else 500),
        subscribers=args.subscribers,
        producers=args.producers,
        seconds=args.seconds or (2.0 if args.quick else 5.0),
        postgres_url=args.postgres,
        redis_url=args.redis,
        workdir=workdir,
        profile_dir=args.profile.resolve() if args.profile else None,
    )
    profiled = f"  servers run under cProfile (timings inflated), profiles in {config.profile_dir}"
    header("event", args.quick, f"work dir {workdir}", [profiled] if config.profile_dir else [])
    return run_figures(run(config))


if __name__ == "__main__":
    sys.exit(main())
