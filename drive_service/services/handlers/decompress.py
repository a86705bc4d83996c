"""FileDecompress: unpacks a zip or tar (plain, .gz, .bz2, .xz) file of the account into new files.

Parameters: ``fileId`` (the archive), ``targetPoolId`` and ``targetBundleId`` (where the files go;
default pool, no bundle) and ``password`` (opens an archive encrypted at rest, and zip entries
protected with a password; never echoed). Results: ``resultFileIds`` (in archive order) and
``filesExtracted``.

The format is recognised by content, never by name. Every regular entry becomes one file named
after the entry's base name (repeats get " (2)" … as in FileCompress), typed by its extension;
directories are skipped. The whole archive is checked before anything is extracted, and the task
fails (creating nothing visible) when an entry is unsafe: an absolute path, a ".." component, a
drive letter, or a link or device. Against archive bombs, ``ExtractLimits`` (set by the operator,
not by task parameters) bounds the number of entries, the total uncompressed size and the
compression ratio (of each zip entry, and of the whole archive since tar entries have no
compressed size of their own). Declared sizes are checked up front and the bytes really produced
are counted while extracting, so an archive that lies about its sizes stops at the limit.

The target pool must be usable by the account and its policy must accept every file. Progress is
reported after each file with checkpoint ``{"done": n, "resultFileIds": [...], "bytes": b}``; a
resumed attempt keeps those files (hidden outputs of the task), discards any made after the last
checkpoint, and goes on with the next entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import lzma
import mimetypes
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from drive_service.domain import uploads
from drive_service.domain.tasks import TaskType
from drive_service.errors import InvalidArgument
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.compress import NameDeduper, optional_text
from drive_service.services.handlers.move import check_placement, optional_id, position, usable_pool

_MIB = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
#: What reading a damaged or hostile archive raises (OSError too when it carries no errno).
_FORMAT_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)
_FORMAT_ERRORS += (lzma.LZMAError, ValueError, struct.error, OverflowError, OSError)


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds against archive bombs: entries, total bytes out, and bytes out per byte in."""

    max_members: int = 10_000
    max_total_bytes: int = 1024 * _MIB
    max_ratio: float = 100.0
    #: Output up to this size may be compressed any amount (tiny files compress very well).
    ratio_floor: int = _MIB
    #: A zip's central directory is parsed into memory at once: this bounds its size.
    max_directory_bytes: int = 16 * _MIB


@dataclass(frozen=True, slots=True)
class _Member:
    """One archive entry: declared sizes, and whether it is a file to extract."""

    name: str
    size: int
    packed: int | None  # compressed size (zip entries only)
    regular: bool
    source: Any  # the ZipInfo or TarInfo


class _Archive:
    """An open zip or tar in the scratch directory (blocking: call from a worker thread)."""

    def __init__(self, path: Path, file_id: str, password: str | None, limits: ExtractLimits) -> None:
        self.size = path.stat().st_size
        self.file_id = file_id
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self.members: list[_Member] = []
        try:
            self._load(path, password, limits)
        except BaseException:
            self.close()
            raise

    def _load(self, path: Path, password: str | None, limits: ExtractLimits) -> None:
        with self.reading():
            # Tar first: a tar whose last entry is a zip also passes zipfile.is_zipfile.
            try:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            except tarfile.ReadError:
                if not zipfile.is_zipfile(path):
                    raise
                if _zip_directory_size(path) > limits.max_directory_bytes:
                    raise TaskFailed(f"Archive {self.file_id} has too many entries.") from None
                self._zip = zipfile.ZipFile(path)
            if self._tar is not None:
                declared = 0
                for info in self._tar:  # stop before skipping over a huge entry to the next header
                    self._check_count(len(self.members) + 1, limits)
                    self.members.append(self._tar_member(info))
                    declared += info.size if info.isreg() else 0
                    _check_total(self.file_id, declared, self.size, limits)
            else:
                assert self._zip is not None
                if password:
                    self._zip.setpassword(password.encode())
                infos = self._zip.infolist()
                self._check_count(len(infos), limits)
                self.members = [self._zip_member(info) for info in infos]

    def open(self, member: _Member) -> IO[bytes]:
        """A reader of the entry's content."""
        if self._zip is not None:
            return self._zip.open(member.source)
        assert self._tar is not None
        reader = self._tar.extractfile(member.source)
        assert reader is not None  # regular entries always have content
        return reader

    def close(self) -> None:
        """Release the archive."""
        for archive in (self._zip, self._tar):
            if archive is not None:
                archive.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Turn what a damaged archive raises into TaskFailed; real I/O errors stay retryable."""
        try:
            yield
        except TaskFailed:
            raise
        except NotImplementedError:
            raise TaskFailed(f"Archive {self.file_id} uses an unsupported compression method.") from None
        except RuntimeError as error:
            if "password" not in str(error):
                raise
            raise TaskFailed(f"Archive {self.file_id} has entries that need the right password.") from None
        except _FORMAT_ERRORS as error:
            if isinstance(error, OSError) and error.errno is not None:
                raise
            raise TaskFailed(
                f"File {self.file_id} is not a readable zip or tar archive: it is corrupt or truncated."
            ) from None

    def _check_count(self, count: int, limits: ExtractLimits) -> None:
        if count > limits.max_members:
            raise TaskFailed(f"Archive {self.file_id} has more than {limits.max_members} entries.")

    def _zip_member(self, info: zipfile.ZipInfo) -> _Member:
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(self.file_id, info.filename, "links and special files are not extracted")
        return _Member(info.filename, info.file_size, info.compress_size, not info.is_dir(), info)

    def _tar_member(self, info: tarfile.TarInfo) -> _Member:
        if not (info.isreg() or info.isdir()):
            raise _unsafe(self.file_id, info.name, "links and special files are not extracted")
        return _Member(info.name, info.size, None, info.isreg(), info)


class FileDecompressHandler:
    """Runs FILE_DECOMPRESS tasks (see the module docstring for parameters and results)."""

    task_type = TaskType.FILE_DECOMPRESS

    def __init__(self, limits: ExtractLimits | None = None) -> None:
        self.limits = limits or ExtractLimits()

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Extract the archive's files as new files, hidden until the task completes.

        Raises:
            TaskFailed: no or an unknown file id, a corrupt or unsupported archive, an unsafe
                entry, a limit exceeded, a missing or wrong password, an unknown or unusable
                target pool or bundle, the pool's policy, or the quota exceeded.
        """
        file_id = optional_id(ctx.parameters, "fileId")
        if file_id is None:
            raise TaskFailed("fileId is required.")
        pool = usable_pool(ctx.files, optional_id(ctx.parameters, "targetPoolId") or "")
        bundle_id = optional_id(ctx.parameters, "targetBundleId")
        if bundle_id is not None:
            await ctx.files.bundle(bundle_id)
        password = optional_text(ctx.parameters, "password")
        file = await ctx.files.get(file_id)
        plain = await ctx.files.plain_copy(file, ctx.scratch / "archive", password)
        archive = await asyncio.to_thread(_Archive, plain, file.id, password, self.limits)
        try:
            plan = _plan(archive, self.limits)
            for member, _, mime in plan:
                check_placement(pool, ctx.files.account_id, size=member.size, mime_type=mime, encrypted=False)
            done = position(ctx.checkpoint, "done", len(plan))
            result_ids = [str(value) for value in ctx.checkpoint.get("resultFileIds", [])][:done]
            await ctx.files.discard_outputs_except(result_ids)  # made after the last checkpoint
            spent = int(ctx.checkpoint.get("bytes", 0))
            for index, (member, name, mime) in enumerate(plan[len(result_ids) :], start=len(result_ids)):
                target = ctx.scratch / f"entry-{index}"
                size = await asyncio.to_thread(_extract, archive, member, target, spent, self.limits)
                check_placement(pool, ctx.files.account_id, size=size, mime_type=mime, encrypted=False)
                created = await ctx.files.create(target, name, mime, pool_id=pool.id, bundle_id=bundle_id)
                await asyncio.to_thread(target.unlink)
                spent += size
                result_ids.append(created.id)
                checkpoint = {"done": len(result_ids), "resultFileIds": list(result_ids), "bytes": spent}
                message = f"Extracted {index + 1}/{len(plan)} files"
                await ctx.report(100.0 * (index + 1) / len(plan), message, checkpoint)
        finally:
            await asyncio.to_thread(archive.close)
        return {"resultFileIds": result_ids, "filesExtracted": len(result_ids)}


def _plan(archive: _Archive, limits: ExtractLimits) -> list[tuple[_Member, str, str]]:
    """The regular entries with file name and MIME type, once every entry passed the checks."""
    names = NameDeduper()
    plan: list[tuple[_Member, str, str]] = []
    total = 0
    for member in archive.members:
        name = _safe_name(archive.file_id, member)
        if not member.regular:
            continue
        total += member.size
        _check_ratio(archive.file_id, member.name, member.size, member.packed, limits)
        name = names.unique(name)
        plan.append((member, name, mimetypes.guess_type(name)[0] or "application/octet-stream"))
    _check_total(archive.file_id, total, archive.size, limits)
    return plan


def _extract(archive: _Archive, member: _Member, target: Path, spent: int, limits: ExtractLimits) -> int:
    """Write the entry's content to ``target``, counting real bytes against the limits; its size."""
    written = 0
    with archive.reading(), archive.open(member) as reader, target.open("wb") as writer:
        while block := reader.read(_MIB):
            written += len(block)
            _check_ratio(archive.file_id, member.name, written, member.packed, limits)
            _check_total(archive.file_id, spent + written, archive.size, limits)
            writer.write(block)
    return written


def _zip_directory_size(path: Path) -> int:
    """Bytes of the zip's central directory as its end record declares them, found as zipfile
    finds it (the end record at the very end, else the last one; a zip64 record before it wins)."""
    with path.open("rb") as handle:
        end = handle.seek(0, 2)
        start = handle.seek(max(0, end - 22 - 65535))
        tail = handle.read()
        exact = tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\0\0"
        at = len(tail) - 22 if exact else tail.rfind(b"PK\x05\x06")
        size = int(struct.unpack_from("<I", tail, at + 12)[0])  # is_zipfile found the record
        if start + at < 76:
            return size
        handle.seek(start + at - 76)
        before = handle.read(76)  # a zip64 end record (56 bytes), then its locator (20 bytes)
    if before[56:60] != b"PK\x06\x07" or before[:4] != b"PK\x06\x06":
        return size
    return int(struct.unpack_from("<Q", before, 40)[0])


def _safe_name(file_id: str, member: _Member) -> str:
    """A regular entry's base name as a file name ("" for a directory).

    Raises:
        TaskFailed: the entry's path leaves the tree, or its base name is no usable file name.
    """
    parts = re.split(r"[\\/]", member.name)
    if member.name.startswith(("/", "\\")) or _DRIVE.match(member.name) or ".." in parts:
        raise _unsafe(file_id, member.name, "it points outside the archive")
    if not member.regular:
        return ""
    try:
        return uploads.file_name(parts[-1])
    except InvalidArgument:
        raise _unsafe(file_id, member.name, "its name is not a usable file name") from None


def _check_ratio(file_id: str, name: str, size: int, packed: int | None, limits: ExtractLimits) -> None:
    if packed is not None and size > limits.ratio_floor and size > limits.max_ratio * packed:
        raise TaskFailed(
            f"Archive {file_id} looks like an archive bomb: entry {name[:100]!r} expands more than "
            f"{limits.max_ratio:g} times."
        )


def _check_total(file_id: str, total: int, archive_size: int, limits: ExtractLimits) -> None:
    if total > limits.max_total_bytes:
        raise TaskFailed(
            f"Archive {file_id} expands to more than the limit of {limits.max_total_bytes / _MIB:g} MiB."
        )
    if total > limits.ratio_floor and total > limits.max_ratio * archive_size:
        raise TaskFailed(
            f"Archive {file_id} looks like an archive bomb: it expands more than {limits.max_ratio:g} times."
        )


def _unsafe(file_id: str, name: str, why: str) -> TaskFailed:
    return TaskFailed(f"Archive {file_id} has an unsafe entry {name[:100]!r}: {why}; nothing was extracted.")
