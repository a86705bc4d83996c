"""FileCompress: packs some of the account's files into one new zip or tar.gz file.

Parameters (camelCase, as the seed): ``fileIds`` (1..1000 ids of the account's files; repeats are
packed once), ``compressionFormat`` ("zip", the default, or "tar.gz"), ``compressionLevel`` (0..9,
default 6; 0 stores zip entries uncompressed), ``outputFileName`` (default "archive.zip" or
"archive.tar.gz"), ``password`` (opens inputs encrypted at rest; never echoed), ``targetPoolId`` and
``targetBundleId`` (where the archive goes; default pool, no bundle).

Results: ``resultFileId``, ``compressedSize`` (bytes of the archive), ``compressionRatio``
(compressed / original plaintext bytes; 0 when the inputs are empty) and ``filesProcessed``.

Entries are named after the files; a repeated name (compared case-insensitively, so the archive
also unpacks on case-insensitive file systems) gets " (2)", " (3)" … before its extension. Each
input is copied to the scratch directory, streamed into the archive and deleted before the next,
so neither memory nor scratch space grows with the number of inputs. Progress is reported per
file with checkpoint ``{"done": n}``; the half-built archive lives in the attempt's scratch
directory, which does not survive the attempt, so a resumed task packs again from the first file
(after discarding an archive an earlier attempt stored but did not complete). The target pool must
be usable by the account and its policy must accept the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drive_service.domain import uploads
from drive_service.domain.tasks import TaskType
from drive_service.errors import InvalidArgument
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.move import check_placement, id_list, optional_id, usable_pool

MAX_FILES = 1000
_FORMATS = {"zip": "application/zip", "tar.gz": "application/gzip"}


@dataclass(frozen=True, slots=True)
class CompressRequest:
    """Checked parameters of a FileCompress task."""

    file_ids: list[str]
    archive_format: str
    level: int
    output_name: str
    password: str | None
    pool_id: str | None
    bundle_id: str | None

    @classmethod
    def parse(cls, parameters: dict[str, Any]) -> CompressRequest:
        """Check the task's parameters. Raises TaskFailed naming the first bad one."""
        file_ids = id_list(parameters, "fileIds", limit=MAX_FILES)
        archive_format = parameters.get("compressionFormat", "zip")
        if not isinstance(archive_format, str) or archive_format.strip().lower() not in _FORMATS:
            raise TaskFailed(
                f"Unknown compressionFormat {archive_format!r}; supported: {', '.join(_FORMATS)}."
            )
        archive_format = archive_format.strip().lower()
        level = parameters.get("compressionLevel", 6)
        if isinstance(level, bool) or not isinstance(level, int | float) or level not in range(10):
            shown = int(level) if isinstance(level, float) and level.is_integer() else level
            raise TaskFailed(f"compressionLevel must be an integer from 0 to 9, not {shown!r}.")
        name = parameters.get("outputFileName") or f"archive.{archive_format}"
        try:
            output_name = uploads.file_name(name) if isinstance(name, str) else ""
        except InvalidArgument:
            output_name = ""
        if not output_name:
            raise TaskFailed(f"outputFileName must be 1 to {uploads.MAX_FILE_NAME} printable characters.")
        return cls(
            file_ids=file_ids,
            archive_format=archive_format,
            level=int(level),
            output_name=output_name,
            password=optional_text(parameters, "password"),
            pool_id=optional_id(parameters, "targetPoolId"),
            bundle_id=optional_id(parameters, "targetBundleId"),
        )


class FileCompressHandler:
    """Runs FILE_COMPRESS tasks (see the module docstring for parameters and results)."""

    task_type = TaskType.FILE_COMPRESS

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Pack the files into a new archive file, hidden until the task completes.

        Raises:
            TaskFailed: bad parameters, an unknown or foreign file, an encrypted input without
                the right password, an unknown or unusable target pool or bundle, the pool's
                policy, or the quota exceeded.
        """
        request = CompressRequest.parse(ctx.parameters)
        mime_type = _FORMATS[request.archive_format]
        pool = usable_pool(ctx.files, request.pool_id or "")
        check_placement(pool, ctx.files.account_id, size=0, mime_type=mime_type, encrypted=False)
        if request.bundle_id is not None:
            await ctx.files.bundle(request.bundle_id)
        inputs = [await ctx.files.get(file_id) for file_id in request.file_ids]
        await ctx.files.discard_outputs_except(())  # an archive an earlier attempt stored too late
        archive = ctx.scratch / "archive.out"
        writer = await asyncio.to_thread(_ArchiveWriter, archive, request.archive_format, request.level)
        names = NameDeduper()
        original = 0
        try:
            for done, file in enumerate(inputs, start=1):
                plain = await ctx.files.plain_copy(file, ctx.scratch / f"input-{done}", request.password)
                mtime = file.updated_at.timestamp()
                await asyncio.to_thread(writer.add, plain, names.unique(file.name), mtime)
                await asyncio.to_thread(plain.unlink)
                original += file.size
                message = f"Compressed {done}/{len(inputs)} files"
                await ctx.report(100.0 * done / len(inputs), message, {"done": done})
            await asyncio.to_thread(writer.close)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(writer.close)
            raise
        size = (await asyncio.to_thread(archive.stat)).st_size
        check_placement(pool, ctx.files.account_id, size=size, mime_type=mime_type, encrypted=False)
        created = await ctx.files.create(
            archive, request.output_name, mime_type, pool_id=pool.id, bundle_id=request.bundle_id
        )
        return {
            "resultFileId": created.id,
            "compressedSize": created.size,
            "compressionRatio": created.size / original if original else 0.0,
            "filesProcessed": len(inputs),
        }


class NameDeduper:
    """Hands out unique names: a repeat of ``name.ext`` becomes ``name (2).ext``, ``name (3).ext`` …"""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def unique(self, name: str) -> str:
        """``name``, or the first free numbered variant (names compare case-insensitively)."""
        stem, extension = os.path.splitext(name)
        candidate, number = name, 1
        while candidate.casefold() in self._taken:
            number += 1
            candidate = f"{stem} ({number}){extension}"
        self._taken.add(candidate.casefold())
        return candidate


def optional_text(parameters: dict[str, Any], key: str) -> str | None:
    """A string parameter; None when absent or empty. Raises TaskFailed when not a string."""
    value = parameters.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TaskFailed(f"{key} must be a string.")
    return value


class _ArchiveWriter:
    """A zip or tar.gz being written to ``path`` (blocking: call from a worker thread)."""

    def __init__(self, path: Path, archive_format: str, level: int) -> None:
        self._add: Callable[[Path, str, float], None]
        self._close: Callable[[], None]
        if archive_format == "zip":
            method = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
            packed = zipfile.ZipFile(
                path, "w", compression=method, compresslevel=level or None, strict_timestamps=False
            )
            self._add = lambda source, name, mtime: _add_zip(packed, source, name, mtime)
            self._close = packed.close
        else:
            tar = tarfile.open(path, "w:gz", compresslevel=level, format=tarfile.PAX_FORMAT)  # noqa: SIM115
            self._add = lambda source, name, mtime: _add_tar(tar, source, name, mtime)
            self._close = tar.close

    def add(self, source: Path, name: str, mtime: float) -> None:
        """Stream ``source`` into the archive as entry ``name`` dated ``mtime`` (epoch seconds)."""
        self._add(source, name, mtime)

    def close(self) -> None:
        """Finish the archive (zip: write the central directory; tar.gz: end blocks, gzip trailer)."""
        self._close()


def _add_zip(packed: zipfile.ZipFile, source: Path, name: str, mtime: float) -> None:
    # ZipFile.write streams the file and applies the archive's level; the entry takes its date
    # and permissions from the file (dates before 1980 are clamped).
    os.utime(source, (mtime, mtime))
    source.chmod(0o644)
    packed.write(source, name)


def _add_tar(tar: tarfile.TarFile, source: Path, name: str, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = source.stat().st_size
    info.mtime = int(mtime)
    info.mode = 0o644
    with source.open("rb") as reader:
        tar.addfile(info, reader)
