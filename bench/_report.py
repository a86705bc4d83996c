"""What every benchmark script prints around its figures, and how it runs them: the first lines,
one ``Outcome`` per figure, the last lines and the exit status, in a work dir removed at the end."""

from __future__ import annotations

import asyncio
import atexit
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench._harness import REPO, say, stop_all

#: The paths whose uncommitted changes ``code_version`` mentions.
CODE_PATHS = ("drive_service", "generated", "protos")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass
class Outcome:
    """One figure: its printed lines (the first names the figure), the targets it missed."""

    lines: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    failed: bool = False


def describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"


async def run_figure(number: int, name: str, figure: Callable[[], Awaitable[Outcome]]) -> Outcome:
    """Run one figure and print its lines; an exception makes it one ``FAILED`` line."""
    try:
        outcome = await figure()
    except Exception as error:
        outcome = Outcome([f"[{number}] {name}: FAILED: {describe(error)}"], failed=True)
    for line in outcome.lines:
        say(line)
    return outcome


def code_version(paths: Sequence[str] = CODE_PATHS) -> str:
    """The git commit being measured, and whether the service's files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return commit + (" + uncommitted changes in drive_service/" if changed else "")


def header(
    title: str, quick: bool, setting: str, notes: Sequence[str] = (), code_paths: Sequence[str] = CODE_PATHS
) -> None:
    """The first lines: what runs, on what, which code, the load average."""
    say(f"drive-service {title} benchmarks" + (" (quick)" if quick else ""))
    say(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {setting}")
    say(f"  code: {code_version(code_paths)}")
    for note in notes:
        say(note)
    _load_average("start")


def run_figures(figures: Coroutine[Any, Any, list[Outcome]]) -> int:
    """Run the figures, then print the load average and the missed targets. Exit status 1 when a
    figure failed, else 0."""
    started = time.perf_counter()
    outcomes = asyncio.run(figures)
    missed = [text for outcome in outcomes for text in outcome.missed]
    _load_average("end")
    say(f"done in {time.perf_counter() - started:.0f} s; targets missed: " + ("; ".join(missed) or "none"))
    return 1 if any(outcome.failed for outcome in outcomes) else 0


def run_script(prefix: str, parent: Path | None, body: Callable[[Path], int]) -> int:
    """``body(work dir)``'s exit status, or 130 when interrupted (Ctrl-C, or SIGTERM, which is raised
    as KeyboardInterrupt). Child processes are stopped and the temporary work dir (``prefix``, in
    ``parent`` or the system temp dir) is removed at the end, also on errors or exit."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    atexit.register(shutil.rmtree, workdir, True)
    atexit.register(stop_all)  # runs first (LIFO): servers stop before their dirs go
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return body(workdir)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load_average(when: str) -> None:
    say(f"  load average at {when}: " + ", ".join(f"{load:.2f}" for load in os.getloadavg()))
