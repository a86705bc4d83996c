"""The "Peer" benchmark of issue 12: the project's client library against tus.

Run from the repository root (needs ``npm ci`` once for tus-js-client and @tus/server)::

    .venv/bin/python -m bench.peer            # 512 MiB x 3 runs each way; 50 concurrent 16 MiB uploads
    .venv/bin/python -m bench.peer --quick    # 128 MiB x 1 run each way; 10 concurrent uploads

Figure 1: the same 512 MiB file, 5 MiB chunks, uploaded by ``drive_service.client`` (SHA-256 of
the file included, as its default mode hashes before creating the upload) to ``python -m
drive_service serve``, and by ``tus-js-client`` (Node stream source, 5 MiB PATCH requests) to
``@tus/server`` with its FileStore, in alternating runs; MB/s medians and their ratio. Figure 2:
N concurrent 16 MiB uploads each way (distinct files), aggregate MB/s and ratio. Each figure also
prints the raw baseline of the house style: the same bytes read, written with pwrite + fsync per
chunk and hashed with SHA-256 in this process. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._harness import MB, MIB, REPO, PipeProcess, ServerProcess, median, say, serving
from bench._report import Outcome, header, run_figure, run_figures, run_script
from drive_service.client import AsyncDriveClient

CHUNK = 5 * MIB
MANY_FILE = 16 * MIB
TARGET_RATIO = 1.5
NODE = shutil.which("node") or "node"
TUS_SCRIPT = REPO / "bench" / "tus_peer.mjs"


@dataclass
class Config:
    workdir: Path
    size: int
    runs: int
    many: int
    parallel: int


def make_file(path: Path, size: int) -> Path:
    """``size`` random bytes (untimed)."""
    with path.open("wb") as handle:
        for offset in range(0, size, 8 * MIB):
            handle.write(os.urandom(min(8 * MIB, size - offset)))
    return path


def raw_baseline(paths: Sequence[Path], directory: Path) -> float:
    """MB/s of reading each file, writing it to a new file with pwrite + fsync per 5 MiB chunk and
    hashing it with SHA-256 (the work an upload service must at least do), all in this process."""
    directory.mkdir(parents=True, exist_ok=True)
    total, seconds = 0, 0.0
    for number, path in enumerate(paths):
        target = directory / f"raw-{number}.bin"
        started = time.perf_counter()
        digest = hashlib.sha256()
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with path.open("rb") as source:
                offset = 0
                while block := source.read(CHUNK):
                    os.pwrite(descriptor, block, offset)
                    os.fsync(descriptor)
                    digest.update(block)
                    offset += len(block)
        finally:
            os.close(descriptor)
        seconds += time.perf_counter() - started
        total += path.stat().st_size
        target.unlink()
    return total / MB / seconds


class TusServer(PipeProcess):
    """``node bench/tus_peer.mjs server DIR``: @tus/server + FileStore on a free loopback port."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [NODE, str(TUS_SCRIPT), "server", str(directory)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        from bench._harness import _LIVE

        _LIVE.add(self)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.stop()
            raise RuntimeError(f"the tus server did not start: {line}")
        self.endpoint = f"http://127.0.0.1:{line[1]}/files"


async def tus_upload(endpoint: str, paths: Sequence[Path]) -> float:
    """Seconds tus-js-client took for ``paths`` at once (measured inside Node: startup excluded)."""
    process = await asyncio.create_subprocess_exec(
        NODE, str(TUS_SCRIPT), "upload", endpoint, str(CHUNK), *map(str, paths),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"tus upload failed: {err.decode()[-500:]}")
    result = json.loads(out)
    if result["bytes"] != sum(path.stat().st_size for path in paths):
        raise AssertionError(f"tus uploaded {result['bytes']} bytes")
    return float(result["seconds"])


async def drive_upload(server: ServerProcess, paths: Sequence[Path], parallel: int, state: Path) -> float:
    """Seconds the client library took to upload ``paths`` at once (hashing included), for a fresh
    account (no dedup against earlier runs); each stored hash is checked against the file's."""
    token = server.token(str(uuid.uuid4()))
    async with AsyncDriveClient(f"127.0.0.1:{server.port}", token, state_dir=state) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.upload(path, chunk_size=CHUNK, parallel=parallel) for path in paths)
        )
        seconds = time.perf_counter() - started
    for path, result in zip(paths, results, strict=True):
        if result.deduplicated or result.file.size != path.stat().st_size:
            raise AssertionError(f"unexpected result for {path.name}: {result}")
    return seconds


async def single_file(config: Config) -> Outcome:
    path = make_file(config.workdir / "peer.bin", config.size)
    raw = raw_baseline([path], config.workdir / "raw")
    drive_rates: list[float] = []
    tus_rates: list[float] = []
    one_stream: list[float] = []
    server = ServerProcess(config.workdir / "drive-1")
    async with serving([server]):
        tus = TusServer(config.workdir / "tus-1")
        try:
            for run in range(config.runs):  # alternating, so drift on the VM hits both alike
                seconds = await drive_upload(server, [path], config.parallel, config.workdir / "state")
                drive_rates.append(config.size / MB / seconds)
                seconds = await tus_upload(tus.endpoint, [path])
                tus_rates.append(config.size / MB / seconds)
                shutil.rmtree(config.workdir / "tus-1", ignore_errors=True)
                (config.workdir / "tus-1").mkdir()
                if run == 0:
                    seconds = await drive_upload(server, [path], 1, config.workdir / "state")
                    one_stream.append(config.size / MB / seconds)
        finally:
            tus.stop()
    drive, peer = median(drive_rates), median(tus_rates)
    ratio = drive / peer
    mib = config.size // MIB
    line = (
        f"[1] peer, one {mib} MiB file in 5 MiB chunks, {config.runs} alternating runs each: "
        f"drive client ({config.parallel} streams, SHA-256 included) {drive:.1f} MB/s | "
        f"tus-js-client -> @tus/server FileStore {peer:.1f} MB/s | ratio {ratio:.2f} "
        f"(target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    details = [
        "    runs MB/s: drive " + ", ".join(f"{rate:.0f}" for rate in drive_rates)
        + "; tus " + ", ".join(f"{rate:.0f}" for rate in tus_rates),
        f"    drive client with 1 stream (first round only): {one_stream[0]:.1f} MB/s",
        f"    raw baseline (read + pwrite + fsync per chunk + sha256, this process): {raw:.1f} MB/s; "
        f"drive {drive / raw:.2f}x, tus {peer / raw:.2f}x of it (tus FileStore does not fsync or hash)",
    ]  # fmt: skip
    missed = [] if ratio >= TARGET_RATIO else [f"[1] peer ratio {ratio:.2f} < {TARGET_RATIO}"]
    return Outcome([line, *details], missed)


async def many_files(config: Config) -> Outcome:
    folder = config.workdir / "many"
    folder.mkdir()
    paths = [make_file(folder / f"m{number}.bin", MANY_FILE) for number in range(config.many)]
    raw = raw_baseline(paths, config.workdir / "raw")
    total = config.many * MANY_FILE
    server = ServerProcess(config.workdir / "drive-2")
    async with serving([server]):
        tus = TusServer(config.workdir / "tus-2")
        try:
            drive = total / MB / await drive_upload(server, paths, 1, config.workdir / "state")
            peer = total / MB / await tus_upload(tus.endpoint, paths)
        finally:
            tus.stop()
        rss = server.peak_rss()
    ratio = drive / peer
    line = (
        f"[2] peer, {config.many} concurrent uploads x 16 MiB (5 MiB chunks): drive client "
        f"(1 stream each) {drive:.1f} MB/s aggregate | tus {peer:.1f} MB/s | ratio {ratio:.2f}"
    )
    detail = (
        f"    raw baseline {raw:.1f} MB/s: drive {drive / raw:.2f}x, tus {peer / raw:.2f}x; "
        f"drive server peak RSS {rss // MIB} MiB"
    )
    return Outcome([line, detail], [])


async def run(config: Config, figures: set[int]) -> list[Outcome]:
    outcomes = []
    if 1 in figures:
        outcomes.append(await run_figure(1, "peer single", lambda: single_file(config)))
    if 2 in figures:
        outcomes.append(await run_figure(2, "peer many", lambda: many_files(config)))
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB, 1 run each, 10 concurrent uploads")
    parser.add_argument("--figures", default="1,2", help="comma-separated figures to run (default 1,2)")
    parser.add_argument("--runs", type=int, default=None, help="alternating runs of figure 1 (default 3)")
    parser.add_argument("--parallel", type=int, default=4, help="client streams in figure 1 (default 4)")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary work dir")
    args = parser.parse_args(argv)
    if not (REPO / "node_modules" / "@tus" / "server").exists():
        say("bench.peer needs the Node packages: run `npm ci` first")
        return 2

    def body(workdir: Path) -> int:
        config = Config(
            workdir=workdir,
            size=(128 if args.quick else 512) * MIB,
            runs=args.runs or (1 if args.quick else 3),
            many=10 if args.quick else 50,
            parallel=args.parallel,
        )
        header("peer (client library vs tus)", args.quick, f"work dir {workdir}; MB = 10^6 bytes")
        figures = {int(part) for part in args.figures.split(",") if part.strip()}
        return run_figures(run(config, figures))

    return run_script("drive-peer-", args.dir, body)


if __name__ == "__main__":
    sys.exit(main())
