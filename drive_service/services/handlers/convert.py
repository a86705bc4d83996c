"""FileConversion: a copy of an image file in another image format, with Pillow.

Parameters: ``fileId``, ``targetFormat`` ("png", "jpeg"/"jpg", "webp", "gif", "bmp", "tiff"; case and
a leading dot ignored), optional ``quality`` (1..100, used by JPEG and WebP). Results:
``resultFileId``, ``format`` (the canonical target format), ``width``, ``height``.

The copy is named after the original with the new extension (``photo.png`` → ``photo.jpg``), has
type ``image/<format>``, and lives in the original's pool and bundle. Only the first frame of an
animation is converted; EXIF orientation is applied. Input is read only by the decoders of the six
formats (never e.g. EPS, which would run Ghostscript), and images over ``MAX_PIXELS`` are refused
before they are decoded. A missing or encrypted file, an unknown format, a non-image, a too large
image or a pool refusing the type fails the task with nothing stored. Checkpoint: the results once
the copy exists, so a resumed attempt returns them instead of converting again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from drive_service.domain.tasks import TaskType
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.move import check_placement, lookups, optional_id

#: Largest image accepted, in pixels (width x height); a 50 MP RGBA image is 200 MB decoded.
MAX_PIXELS = 50_000_000
#: Pillow decoders allowed to read input.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


@dataclass(frozen=True, slots=True)
class ImageFormat:
    """An output format: Pillow's name, file extension, MIME type, the modes it writes (None: any,
    Pillow adapts), and whether ``quality`` applies."""

    name: str
    pillow: str
    extension: str
    mime_type: str
    modes: frozenset[str] | None
    lossy: bool = False


_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
FORMATS = {
    "png": ImageFormat("png", "PNG", ".png", "image/png", _PNG_MODES),
    "jpeg": ImageFormat("jpeg", "JPEG", ".jpg", "image/jpeg", frozenset({"L", "RGB", "CMYK"}), lossy=True),
    "webp": ImageFormat("webp", "WEBP", ".webp", "image/webp", frozenset({"RGB", "RGBA"}), lossy=True),
    "gif": ImageFormat("gif", "GIF", ".gif", "image/gif", None),
    "bmp": ImageFormat("bmp", "BMP", ".bmp", "image/bmp", frozenset({"1", "L", "P", "RGB", "RGBA"})),
    "tiff": ImageFormat("tiff", "TIFF", ".tiff", "image/tiff", _PNG_MODES | {"CMYK", "F"}),
}
FORMATS["jpg"] = FORMATS["jpeg"]


class FileConversionHandler:
    """Runs FileConversion tasks (see the module docstring for the contract)."""

    task_type = TaskType.FILE_CONVERSION

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Decode the file, encode it in the target format and store the copy.

        Raises:
            TaskFailed: see the module docstring.
        """
        file_id = optional_id(ctx.parameters, "fileId")
        if file_id is None:
            raise TaskFailed("fileId is required.")
        target_format = _target_format(ctx.parameters.get("targetFormat"))
        quality = _quality(ctx.parameters.get("quality"))
        saved = ctx.checkpoint.get("results")
        if isinstance(saved, dict) and isinstance(saved.get("resultFileId"), str):
            await lookups(ctx.files).discard_outputs_except([saved["resultFileId"]])
            return saved
        await lookups(ctx.files).discard_outputs_except([])
        file = await ctx.files.get(file_id)
        if file.encrypted:
            raise TaskFailed(f"File {file.id} is encrypted; decrypt it before converting it.")
        pool = lookups(ctx.files).pool(file.pool_id)
        check_placement(
            pool, ctx.files.account_id, size=0, mime_type=target_format.mime_type, encrypted=False
        )
        await ctx.report(10.0, "Reading the image")
        source = await ctx.files.plain_copy(file, ctx.scratch / "source")
        target = ctx.scratch / f"converted{target_format.extension}"
        await ctx.report(30.0, f"Converting to {target_format.name}")
        width, height = await asyncio.to_thread(_convert, file.id, source, target, target_format, quality)
        size = (await asyncio.to_thread(target.stat)).st_size
        check_placement(
            pool, ctx.files.account_id, size=size, mime_type=target_format.mime_type, encrypted=False
        )
        name = PurePosixPath(file.name).stem + target_format.extension
        copy = await ctx.files.create(
            target, name, target_format.mime_type, pool_id=file.pool_id, bundle_id=file.bundle_id
        )
        results = {"resultFileId": copy.id, "format": target_format.name, "width": width, "height": height}
        await ctx.report(100.0, f"Converted to {target_format.name}", {"results": results})
        return results


def _target_format(value: object) -> ImageFormat:
    if not isinstance(value, str) or not value.strip():
        raise TaskFailed(f"targetFormat is required; use one of: {', '.join(FORMATS)}.")
    found = FORMATS.get(value.strip().lower().removeprefix("."))
    if found is None:
        raise TaskFailed(f"Unknown targetFormat {value[:20]!r}; use one of: {', '.join(FORMATS)}.")
    return found


def _quality(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 100:
        raise TaskFailed("quality must be a number from 1 to 100.")
    return round(value)


def _convert(
    file_id: str, source: Path, target: Path, image_format: ImageFormat, quality: int | None
) -> tuple[int, int]:
    """Decode ``source`` (limits applied) and write it to ``target``; return the width and height.

    Raises:
        TaskFailed: not an image of an accepted format, too large, or undecodable.
    """
    try:
        with Image.open(source, formats=INPUT_FORMATS) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise TaskFailed(_too_large(file_id, opened.width, opened.height))
            opened.load()
            try:
                image = ImageOps.exif_transpose(opened)
            except (OSError, SyntaxError, ValueError, TypeError, KeyError):
                image = opened.copy()  # a damaged EXIF block does not spoil the pixels
    except UnidentifiedImageError:
        raise TaskFailed(
            f"File {file_id} is not an image in a supported format ({', '.join(INPUT_FORMATS)})."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TaskFailed(_too_large(file_id, 0, 0)) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise TaskFailed(f"File {file_id} is a damaged image that cannot be decoded.") from None
    image = _writable(image, image_format.modes)
    options: dict[str, Any] = {"quality": quality} if quality is not None and image_format.lossy else {}
    image.save(target, format=image_format.pillow, **options)
    return image.width, image.height


def _writable(image: Image.Image, modes: frozenset[str] | None) -> Image.Image:
    """``image`` in a mode the format writes; transparency is kept where it can be, else laid on white."""
    if modes is None or image.mode in modes:
        return image
    transparent = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
    if transparent and "RGBA" in modes:
        return image.convert("RGBA")
    if not transparent:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _too_large(file_id: str, width: int, height: int) -> str:
    shown = f" ({width} x {height})" if width else ""
    return f"Image {file_id} is too large{shown}; at most {MAX_PIXELS:,} pixels are converted."
