"""Progress display of the CLI: rich bars (one per file and one overall, with speed and ETA) on
a terminal, plain lines otherwise (one every few seconds per file, and one per finished file)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from drive_service.client.models import UploadProgress

_PLAIN_EVERY = 2.0  # seconds between plain progress lines of one file


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class TransferView:
    """Shows transfers of ``total_bytes`` over ``count`` files. Use as a context manager; call
    ``start`` per file, ``update`` with its progress, ``finish`` with a summary line."""

    def __init__(self, total_bytes: int, count: int, verb: str, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._verb = verb
        self._tty = self._out.isatty()
        self._total = total_bytes
        self._count = count
        self._done_bytes = 0  # of finished files
        self._file_size = 0
        self._name = ""
        self._last_line = 0.0
        self._started = time.monotonic()
        self._file_started = self._started
        self._phase = ""
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._current: TaskID | None = None
        if self._tty:
            self._progress = Progress(
                TextColumn("{task.description}", justify="left"),
                BarColumn(bar_width=None),
                TaskProgressColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self._out),
                transient=False,
                expand=True,
            )

    def __enter__(self) -> TransferView:
        if self._progress is not None:
            self._progress.start()
            if self._count > 1:
                self._overall = self._progress.add_task(f"total ({self._count} files)", total=self._total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, name: str, size: int) -> None:
        self._name, self._file_size, self._phase = name, size, ""
        self._file_started = self._last_line = time.monotonic()
        if self._progress is not None:
            self._current = self._progress.add_task(_label(name, self._verb), total=size)
        else:
            self._line(f"{name}: {self._verb} {human_size(size)}")

    def update(self, progress: UploadProgress) -> None:
        """Moves the bars; the hashing phase fills the file's bar once before sending starts."""
        uploading = progress.phase != "hashing"
        label = _label(self._name, self._verb if uploading else "hashing")
        if self._progress is not None and self._current is not None:
            if progress.phase != self._phase and self._phase in ("", "hashing"):
                # A new phase: restart the bar's clock, so speed and ETA are the new phase's own.
                self._progress.reset(self._current, total=self._file_size, description=label)
            self._phase = progress.phase
            self._progress.update(self._current, completed=progress.bytes_done, description=label)
            if self._overall is not None:
                self._progress.update(
                    self._overall, completed=self._done_bytes + (progress.bytes_done if uploading else 0)
                )
            return
        now = time.monotonic()
        if now - self._last_line >= _PLAIN_EVERY and progress.bytes_total:
            self._last_line = now
            share = progress.bytes_done / progress.bytes_total
            rate = progress.bytes_done / max(now - self._file_started, 1e-6)
            self._line(
                f"{self._name}: {progress.phase} {share:.0%} "
                f"{human_size(progress.bytes_done)}/{human_size(progress.bytes_total)} "
                f"{human_size(rate)}/s"
            )

    def transferred(self, done: int, total: int) -> None:
        """Download progress: ``done`` of ``total`` bytes."""
        self.update(UploadProgress("downloading", done, total, 0, 0))

    def finish(self, summary: str) -> None:
        self._done_bytes += self._file_size
        if self._progress is not None:
            if self._current is not None:
                self._progress.update(self._current, completed=self._file_size)
            if self._overall is not None:
                self._progress.update(self._overall, completed=self._done_bytes)
            self._progress.console.print(summary, highlight=False, markup=False)
        else:
            self._line(summary)

    def _line(self, text: str) -> None:
        print(text, file=self._out, flush=True)


def _label(name: str, verb: str) -> str:
    short = name if len(name) <= 32 else name[:14] + "…" + name[-17:]
    return f"{verb:9} {short}"
