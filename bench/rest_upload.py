"""One big upload over REST (raw chunk bodies through the reference gateway) against the same chunks
over gRPC (unary UploadChunk), measured in the same run on the same server.

Run from the repository root::

    .venv/bin/python -m bench.rest_upload              # 256 MiB in 8 MiB chunks, 2 rounds each
    .venv/bin/python -m bench.rest_upload --rounds 1   # one upload each way

The server is ``python -m drive_service serve`` (a child process, private data dir, SQLite) and the
gateway ``gateway/build/bin/drive-gateway`` in front of it (built first by gateway/build.sh, a
no-op when current). Each round uploads a fresh file of the same size both ways, gRPC first, then
REST: create, every chunk one after the other (one request per chunk, as the specification's
client does), complete. **Baseline**: the gRPC upload; **ratio** = REST MB/s ÷ gRPC MB/s over all
rounds (target >= 0.5). See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._harness import MIB, FileSpec, PayloadSource, ServerProcess, process_cpu, say, serving
from bench._report import Outcome, header, run_figure, run_figures, run_script, verdict
from bench.uploads import auth, check_file, create_request, mbps, mib, open_channel, seconds_text
from drive.v1 import uploads_pb2, uploads_pb2_grpc
from tests.gateway.binary import RunningGateway, build_gateway, running_gateway

TARGET_RATIO = 0.5
DEFAULT_SIZE = 256 * MIB
DEFAULT_CHUNK = 8 * MIB


@dataclass
class Totals:
    """Seconds per phase, bytes uploaded and CPU seconds of the server and gateway, over rounds."""

    phases: dict[str, float] = field(default_factory=dict)
    bytes: int = 0
    server_cpu: float = 0.0
    gateway_cpu: float = 0.0

    def add(
        self,
        phases: dict[str, float],
        size: int,
        cpu_before: tuple[float, float],
        cpu_after: tuple[float, float],
    ) -> None:
        """One upload: its phases, its size and the (server, gateway) CPU seconds around it."""
        for name, seconds in phases.items():
            self.phases[name] = self.phases.get(name, 0.0) + seconds
        self.bytes += size
        self.server_cpu += cpu_after[0] - cpu_before[0]
        self.gateway_cpu += cpu_after[1] - cpu_before[1]

    @property
    def rate(self) -> float:
        return mbps(self.bytes, self.phases["total"])


def sha256_of(source: PayloadSource, spec: FileSpec) -> str:
    digest = hashlib.sha256()
    for index in range(spec.chunks):
        digest.update(source.block(spec.seed, index, spec.length(index)))
    return digest.hexdigest()


async def over_grpc(
    source: PayloadSource, server: ServerProcess, token: str, spec: FileSpec, sha256: str
) -> dict[str, float]:
    """create → UploadChunk per chunk, in order → complete, over one channel."""
    metadata = auth(token)
    async with open_channel(server) as channel:
        stub = uploads_pb2_grpc.UploadServiceStub(channel)
        started = time.perf_counter()
        created = await stub.CreateUploadTask(create_request(spec, sha256), metadata=metadata)
        t_created = time.perf_counter()
        for index in range(spec.chunks):
            data = source.block(spec.seed, index, spec.length(index))
            request = uploads_pb2.UploadChunkRequest(task_id=created.task_id, chunk_index=index, data=data)
            await stub.UploadChunk(request, metadata=metadata)
        t_sent = time.perf_counter()
        done = await stub.CompleteUpload(
            uploads_pb2.CompleteUploadRequest(task_id=created.task_id), metadata=metadata
        )
        finished = time.perf_counter()
    check_file(done.file, spec, sha256)
    return _phases(started, t_created, t_sent, finished)


async def over_rest(
    source: PayloadSource, gateway: RunningGateway, token: str, spec: FileSpec, sha256: str
) -> dict[str, float]:
    """The same through the gateway: POST create (JSON), one raw application/octet-stream POST per
    chunk, POST complete."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=120.0) as client:
        started = time.perf_counter()
        response = await client.post(
            "/api/files/upload/create",
            json={
                "fileName": f"bench-{spec.seed}.bin",
                "fileSize": spec.size,
                "contentType": "application/octet-stream",
                "chunkSize": spec.chunk_size,
                "hash": sha256,
            },
        )
        task_id = _json(response)["taskId"]
        t_created = time.perf_counter()
        for index in range(spec.chunks):
            data = source.block(spec.seed, index, spec.length(index))
            response = await client.post(
                f"/api/files/upload/chunk/{task_id}/{index}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            _json(response)
        t_sent = time.perf_counter()
        file = _json(await client.post(f"/api/files/upload/complete/{task_id}"))
        finished = time.perf_counter()
    if (file["hash"], int(file["size"])) != (sha256, spec.size):
        raise AssertionError(f"stored file is {(file['hash'], file['size'])}, expected {(sha256, spec.size)}")
    return _phases(started, t_created, t_sent, finished)


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:300]}")
    return response.json()  # type: ignore[no-any-return]


def _phases(started: float, created: float, sent: float, finished: float) -> dict[str, float]:
    return {
        "create": created - started,
        "chunks": sent - created,
        "complete": finished - sent,
        "total": finished - started,
    }


async def figure(args: argparse.Namespace, workdir: Path) -> Outcome:
    build_gateway()
    source = PayloadSource()
    server = ServerProcess(workdir / "server")
    grpc_totals, rest_totals = Totals(), Totals()
    async with serving([server]):
        with running_gateway(server.port, log_dir=workdir) as gateway:
            token = server.token(str(uuid.uuid4()))

            def cpu() -> tuple[float, float]:
                return server.cpu_seconds(), process_cpu(gateway.pid)

            for round_number in range(args.rounds):
                specs = [FileSpec(2 * round_number + way, args.size, args.chunk) for way in (0, 1)]
                hashes = [sha256_of(source, spec) for spec in specs]  # untimed
                before = cpu()
                grpc_totals.add(
                    await over_grpc(source, server, token, specs[0], hashes[0]), args.size, before, cpu()
                )
                before = cpu()
                rest_totals.add(
                    await over_rest(source, gateway, token, specs[1], hashes[1]), args.size, before, cpu()
                )
    ratio = rest_totals.rate / grpc_totals.rate
    line = (
        f"[1] REST upload, raw chunk bodies through the gateway, {mib(args.size)} in "
        f"{mib(args.chunk)} chunks x {args.rounds} (sqlite): {rest_totals.rate:.1f} MB/s | baseline "
        f"gRPC UploadChunk {grpc_totals.rate:.1f} MB/s | ratio {ratio:.2f} "
        f"(target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
    )
    details = [
        f"    {name}: phases {_shown(totals)}; CPU per MB: server {_per_mb(totals.server_cpu, totals.bytes)},"
        f" gateway {_per_mb(totals.gateway_cpu, totals.bytes)}"
        for name, totals in (("gRPC", grpc_totals), ("REST", rest_totals))
    ]
    details.append(
        f"    chunk phase alone: REST {mbps(rest_totals.bytes, rest_totals.phases['chunks']):.1f} MB/s, "
        f"gRPC {mbps(grpc_totals.bytes, grpc_totals.phases['chunks']):.1f} MB/s"
    )
    missed = [] if ratio >= TARGET_RATIO else [f"[1] ratio {ratio:.2f} < {TARGET_RATIO}"]
    return Outcome([line, *details], missed)


def _shown(totals: Totals) -> str:
    return ", ".join(f"{name} {seconds_text(seconds)}" for name, seconds in totals.phases.items())


def _per_mb(seconds: float, size: int) -> str:
    return f"{seconds * 1000 / (size / 1_000_000):.2f} ms"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rest_upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=DEFAULT_SIZE // MIB, help="file size (default 256)")
    parser.add_argument("--chunk-mib", type=int, default=DEFAULT_CHUNK // MIB, help="chunk size (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads each way, alternating (default 2)")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    args = parser.parse_args(argv)
    args.size, args.chunk = args.size_mib * MIB, args.chunk_mib * MIB
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_script("drive-bench-rest-", args.dir, lambda workdir: measure(args, workdir))


def measure(args: argparse.Namespace, workdir: Path) -> int:
    code = ("drive_service", "generated", "protos", "gateway")
    header("REST upload", False, f"work dir {workdir}; MB = 10^6 bytes", code_paths=code)

    async def figures() -> list[Outcome]:
        return [await run_figure(1, "rest", lambda: figure(args, workdir))]

    say("  client: httpx (REST) and grpc.aio (gRPC) in this process; server and gateway are child processes")
    return run_figures(figures())


if __name__ == "__main__":
    sys.exit(main())
