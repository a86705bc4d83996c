"""S3Store against a real S3-API server (moto's, a child process on loopback): every method, the
error mapping (missing key/upload, server gone, timeouts, 5xx, wrong credentials), and that no
credential leaks into messages, reprs, exceptions or logs."""

from __future__ import annotations

import array
import asyncio
import hashlib
import logging
import os
import random
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drive_service.errors import Unavailable
from drive_service.storage.s3 import (
    MIN_PART_SIZE,
    AccessDenied,
    BucketNotFound,
    CredentialsMissing,
    ObjectNotFound,
    Part,
    RangeNotSatisfiable,
    S3Config,
    S3Error,
    S3Store,
    UploadNotFound,
)
from drive_service.storage.s3.config import MIB
from tests.support.s3server import S3Server, s3_config, s3_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)

PART = MIN_PART_SIZE  # S3's minimum size of every part but the last


@pytest.fixture
async def store(s3_config: S3Config) -> AsyncIterator[S3Store]:  # noqa: F811
    async with S3Store(s3_config) as opened:
        yield opened


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible-looking bytes (cheap: no os.urandom per test)."""
    return random.Random(seed).randbytes(size)


async def blocks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def in_progress(store: S3Store, prefix: str = "") -> list[str]:
    return [upload.upload_id async for upload in store.list_multipart_uploads(prefix)]


def multipart_etag(parts: list[bytes]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' MD5s, a dash, the part count."""
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def assert_clean(error: BaseException, *secrets: str) -> None:
    """Neither the mapped error nor anything reachable from it mentions a secret."""
    assert error.__cause__ is None and error.__context__ is None
    text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args) + repr(vars(error))
    for secret in secrets:
        assert secret not in text


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


def test_config_normalises_prefix_and_validates() -> None:
    assert S3Config(bucket="b", prefix="/media").prefix == "media/"
    assert S3Config(bucket="b", prefix="media/").prefix == "media/"
    assert S3Config(bucket="b").prefix == ""
    with pytest.raises(ValueError, match="both"):
        S3Config(bucket="b", access_key_id="AKIA")
    with pytest.raises(ValueError, match="addressing"):
        S3Config(bucket="b", addressing="dns")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bucket"):
        S3Config(bucket="")


def test_config_and_store_reprs_hide_credentials() -> None:
    config = S3Config(bucket="b", access_key_id="AKIAEXAMPLEKEYID0001", secret_access_key="s3cr3t/value+X")
    for text in (repr(config), str(config), repr(S3Store(config))):
        assert "AKIAEXAMPLEKEYID0001" not in text and "s3cr3t/value+X" not in text
        assert "credentials='static'" in text
    assert "credentials='default chain'" in repr(S3Config(bucket="b"))


def test_endpoint_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as caught:
        S3Config(bucket="b", endpoint="http://AKIAUSER:topsecret@127.0.0.1:9000")
    assert "topsecret" not in str(caught.value) and "AKIAUSER" not in str(caught.value)


# ----------------------------------------------------------------------------------------------
# Multipart uploads
# ----------------------------------------------------------------------------------------------


async def test_probe(store: S3Store, s3_server: S3Server) -> None:  # noqa: F811
    await store.probe()
    async with S3Store(s3_server.config(bucket="no-such-bucket")) as other:
        with pytest.raises(BucketNotFound):
            await other.probe()


async def test_parts_in_any_order_and_in_parallel(store: S3Store) -> None:
    chunks = [payload(PART, 1), payload(PART, 2), payload(PART, 3), payload(12345, 4)]
    upload_id = await store.create_multipart("big.bin", content_type="application/octet-stream")
    order = [4, 2, 1, 3]
    etags = await asyncio.gather(
        *(store.upload_part("big.bin", upload_id, number, memoryview(chunks[number - 1])) for number in order)
    )
    listed = await store.list_parts("big.bin", upload_id)
    assert [(p.number, p.size) for p in listed] == [(1, PART), (2, PART), (3, PART), (4, 12345)]
    assert {p.number: p.etag for p in listed} == dict(zip(order, etags, strict=True))
    # Each part's ETag is the quoted MD5 of its bytes.
    assert listed[0].etag == f'"{hashlib.md5(chunks[0]).hexdigest()}"'

    shuffled = list(reversed(listed))  # complete sorts them
    etag = await store.complete_multipart("big.bin", upload_id, shuffled)
    assert etag == multipart_etag(chunks)
    assert await store.read("big.bin") == b"".join(chunks)
    info = await store.head("big.bin")
    assert (info.size, info.etag) == (3 * PART + 12345, etag)
    assert await in_progress(store) == []


async def test_list_parts_sees_a_part_as_soon_as_it_is_stored(store: S3Store) -> None:
    upload_id = await store.create_multipart("k")
    assert await store.list_parts("k", upload_id) == []
    first = await store.upload_part("k", upload_id, 3, b"x" * 1000)
    [part] = await store.list_parts("k", upload_id)
    assert (part.number, part.size, part.etag) == (3, 1000, first)
    assert part.last_modified is not None
    # The same number again replaces the part (a retried chunk).
    second = await store.upload_part("k", upload_id, 3, bytearray(b"y" * 2000))
    [part] = await store.list_parts("k", upload_id)
    assert (part.size, part.etag) == (2000, second) and second != first
    await store.abort_multipart("k", upload_id)


async def test_list_parts_pages(store: S3Store) -> None:
    upload_id = await store.create_multipart("many")
    await asyncio.gather(*(store.upload_part("many", upload_id, n, b"%d" % n) for n in range(1, 9)))
    parts = await store.list_parts("many", upload_id, page_size=3)
    assert [(p.number, p.size) for p in parts] == [(n, 1) for n in range(1, 9)]
    await store.abort_multipart("many", upload_id)


async def test_part_numbers_outside_the_range_are_refused(store: S3Store) -> None:
    for number in (0, 10_001):
        with pytest.raises(ValueError):
            await store.upload_part("k", "id", number, b"x")


async def test_complete_refuses_small_parts_and_wrong_etags(store: S3Store) -> None:
    upload_id = await store.create_multipart("small")
    first = await store.upload_part("small", upload_id, 1, b"a" * 1024)
    second = await store.upload_part("small", upload_id, 2, b"b" * 1024)
    with pytest.raises(S3Error) as caught:
        await store.complete_multipart("small", upload_id, [Part(1, first), Part(2, second)])
    assert caught.value.code == "EntityTooSmall"
    with pytest.raises(S3Error) as caught:
        await store.complete_multipart("small", upload_id, [Part(1, second)])
    assert caught.value.code == "InvalidPart"
    # A one-part upload may be small: the last part has no minimum.
    assert (await store.complete_multipart("small", upload_id, [Part(1, first)])).endswith('-1"')
    assert await store.read("small") == b"a" * 1024


async def test_abort_discards_the_upload(store: S3Store) -> None:
    upload_id = await store.create_multipart("gone")
    etag = await store.upload_part("gone", upload_id, 1, b"data")
    await store.abort_multipart("gone", upload_id)
    with pytest.raises(UploadNotFound) as caught:
        await store.list_parts("gone", upload_id)
    assert caught.value.code == "NoSuchUpload" and caught.value.key == "gone"
    # S3 answers 404 NoSuchUpload; moto 5.2 answers 500 (a KeyError inside), which reads as a
    # retryable outage. ListParts (above) is the reliable way to tell an upload is gone.
    with pytest.raises((UploadNotFound, Unavailable)):
        await store.upload_part("gone", upload_id, 2, b"more")
    with pytest.raises((UploadNotFound, Unavailable)):  # the same 500 from moto
        await store.complete_multipart("gone", upload_id, [Part(1, etag)])
    await store.abort_multipart("gone", upload_id)  # idempotent
    assert await in_progress(store) == []
    with pytest.raises(ObjectNotFound):
        await store.head("gone")


async def test_list_multipart_uploads_under_a_prefix(store: S3Store) -> None:
    a1 = await store.create_multipart("a/1")
    a2 = await store.create_multipart("a/2")
    b1 = await store.create_multipart("b/1")
    uploads = [upload async for upload in store.list_multipart_uploads("a/")]
    assert sorted((u.key, u.upload_id) for u in uploads) == [("a/1", a1), ("a/2", a2)]
    # S3 gives each upload's initiation time; moto 5.2 answers a fixed 2010-11-10T20:48:33Z for
    # every upload, so garbage collection tests on moto cannot rely on it.
    assert all(upload.initiated.tzinfo is not None for upload in uploads)
    assert all(upload.initiated < datetime.now(UTC) - timedelta(days=365) for upload in uploads)
    assert sorted(await in_progress(store)) == sorted([a1, a2, b1])
    for key, upload_id in (("a/1", a1), ("a/2", a2), ("b/1", b1)):
        await store.abort_multipart(key, upload_id)
    assert await in_progress(store) == []


# ----------------------------------------------------------------------------------------------
# Whole objects
# ----------------------------------------------------------------------------------------------


async def test_put_object_takes_any_bytes_like(store: S3Store) -> None:
    words = array.array("I", range(1000))  # a memoryview of it has format "I", not "B"
    cases: dict[str, bytes | bytearray | memoryview] = {
        "bytes": b"hello",
        "bytearray": bytearray(b"world"),
        "view": memoryview(b"0123456789")[2:7],
        "words": memoryview(words),
        "empty": b"",
    }
    for key, data in cases.items():
        etag = await store.put_object(key, data, content_type="text/plain")
        expected = bytes(memoryview(data).cast("B")) if isinstance(data, memoryview) else bytes(data)
        assert etag == f'"{hashlib.md5(expected).hexdigest()}"'
        assert await store.read(key) == expected
        assert (await store.head(key)).size == len(expected)


async def test_put_stream_small_is_one_put(store: S3Store) -> None:
    data = payload(3 * MIB + 5)
    result = await store.put_stream("s", blocks_of(data, 100_000), part_size=PART)
    assert (result.size, result.parts) == (len(data), 0)
    assert await store.read("s") == data
    empty = await store.put_stream("e", blocks_of(b"", 1), part_size=PART)
    assert (empty.size, empty.parts) == (0, 0)
    assert await store.read("e") == b""


async def test_put_stream_big_is_multipart(store: S3Store) -> None:
    data = payload(3 * PART + 777)

    async def mixed() -> AsyncIterator[bytes | bytearray | memoryview]:
        # Whole parts in one bytes block (passed on as views), odd small blocks, reused buffers.
        yield data[: PART + 10]
        reused = bytearray(333_333)
        position = PART + 10
        while position < len(data):
            piece = data[position : position + len(reused)]
            reused[: len(piece)] = piece
            yield memoryview(reused)[: len(piece)]
            position += len(piece)

    result = await store.put_stream("m", mixed(), part_size=PART, concurrency=2)
    assert (result.size, result.parts) == (len(data), 4)
    assert result.etag == multipart_etag([data[i : i + PART] for i in range(0, len(data), PART)])
    assert await store.read("m") == data
    assert await in_progress(store) == []


async def test_put_stream_failure_aborts_and_stores_nothing(store: S3Store) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield payload(3 * PART)
        raise OSError("the client went away")

    with pytest.raises(OSError, match="went away"):
        await store.put_stream("f", failing(), part_size=PART)
    assert await in_progress(store) == []
    with pytest.raises(ObjectNotFound):
        await store.head("f")


async def test_put_stream_cancelled_aborts(store: S3Store) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield payload(2 * PART)
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    task = asyncio.create_task(store.put_stream("c", slow(), part_size=PART))
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await in_progress(store) == []


async def test_put_file(store: S3Store, tmp_path: Path) -> None:
    data = payload(2 * PART + 3)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    result = await store.put_file("f", path, part_size=PART)
    assert (result.size, result.parts) == (len(data), 3)
    assert await store.read("f") == data
    small = tmp_path / "s.bin"
    small.write_bytes(b"tiny")
    assert (await store.put_file("s", small, part_size=PART)).parts == 0
    assert await store.read("s") == b"tiny"
    with pytest.raises(FileNotFoundError):
        await store.put_file("x", tmp_path / "missing")


# ----------------------------------------------------------------------------------------------
# Ranged reads
# ----------------------------------------------------------------------------------------------


async def test_ranged_reads_at_the_edges(store: S3Store) -> None:
    data = payload(3 * MIB + 17)
    size = len(data)
    await store.put_object("r", data)
    cases = [
        (0, None, data),
        (0, 1, data[:1]),
        (1, 10, data[1:11]),
        (size - 1, None, data[-1:]),
        (size - 1, 5, data[-1:]),  # runs past the end: cut at the end
        (MIB, MIB, data[MIB : 2 * MIB]),
        (size, None, b""),  # at the end: empty
        (size, 10, b""),
        (5, 0, b""),
    ]
    for offset, length, expected in cases:
        assert await store.read("r", offset, length) == expected, (offset, length)
    for offset in (size + 1, size + MIB):
        with pytest.raises(RangeNotSatisfiable):
            await store.read("r", offset)
        with pytest.raises(RangeNotSatisfiable):
            await store.read("r", offset, 0)


async def test_ranged_read_streams_in_blocks(store: S3Store) -> None:
    data = payload(3 * MIB + 17)
    await store.put_object("r", data)
    stream = await store.open_range("r", 100, block_size=MIB)
    assert (stream.offset, stream.length, stream.object_size) == (100, len(data) - 100, len(data))
    blocks = [block async for block in stream]
    assert [len(b) for b in blocks] == [MIB, MIB, MIB + 17 - 100]
    assert b"".join(blocks) == data[100:]


async def test_ranged_read_as_received(store: S3Store) -> None:
    data = payload(3 * MIB + 17)
    await store.put_object("r", data)
    for chunks_off in (False, True):
        stream = await store.open_range("r", 5, 3 * MIB, block_size=None)
        if chunks_off:
            stream._chunks = None  # body.read, the fallback
        blocks = [block async for block in stream]
        assert b"".join(blocks) == data[5 : 5 + 3 * MIB]
        assert all(isinstance(block, bytes) and block for block in blocks)


async def test_ranged_read_without_aiohttp_buffers(store: S3Store) -> None:
    """The fallback for transports other than aiohttp: ``body.read`` gathered into blocks."""
    data = payload(2 * MIB + 5)
    await store.put_object("r", data)
    stream = await store.open_range("r", 3, block_size=MIB)
    stream._chunks = None
    assert [len(b) for b in [block async for block in stream]] == [MIB, MIB, 2]
    stream = await store.open_range("r", 3, block_size=MIB)
    stream._chunks = None
    assert b"".join([block async for block in stream]) == data[3:]


async def test_leaving_a_stream_early_releases_it(store: S3Store) -> None:
    await store.put_object("r", payload(4 * MIB))
    for _ in range(3 * store.config.max_connections):  # would exhaust the pool if leaked
        async with await store.open_range("r", block_size=64 * 1024) as stream:
            assert len(await anext(stream)) == 64 * 1024
    assert len(await store.read("r", 0, 10)) == 10


async def test_empty_object_reads(store: S3Store) -> None:
    await store.put_object("z", b"")
    assert await store.read("z") == b""
    assert await store.read("z", 0, 0) == b""
    assert await store.read("z", 0, 10) == b""
    with pytest.raises(RangeNotSatisfiable):
        await store.read("z", 1)


async def test_missing_key(store: S3Store) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.head("missing"),
        lambda: store.open_range("missing"),
        lambda: store.open_range("missing", 5, 10),
        lambda: store.open_range("missing", 0, 0),
        lambda: store.copy("missing", "other"),
    ]
    for call in calls:
        with pytest.raises(ObjectNotFound) as caught:
            await call()
        assert caught.value.key == "missing"
    await store.delete("missing")  # deleting a missing key is fine


# ----------------------------------------------------------------------------------------------
# Copy, delete, list
# ----------------------------------------------------------------------------------------------


async def test_copy_single_request(store: S3Store) -> None:
    data = payload(1 * MIB)
    etag = await store.put_object("src", data)
    assert await store.copy("src", "dst") == etag
    assert await store.read("dst") == data


async def test_copy_multipart_with_upload_part_copy(store: S3Store) -> None:
    data = payload(2 * PART + 4321)
    await store.put_object("src", data)
    etag = await store.copy("src", "dst", multipart_threshold=PART, part_size=PART, concurrency=2)
    assert etag == multipart_etag([data[:PART], data[PART : 2 * PART], data[2 * PART :]])
    assert await store.read("dst") == data
    assert await store.read("dst", PART - 3, 6) == data[PART - 3 : PART + 3]  # across a part boundary
    assert await in_progress(store) == []


async def test_delete(store: S3Store) -> None:
    await store.put_object("d", b"x")
    await store.delete("d")
    with pytest.raises(ObjectNotFound):
        await store.head("d")
    await store.delete("d")


async def test_list_objects_pages_and_prefixes(store: S3Store, s3_server: S3Server) -> None:  # noqa: F811
    keys = [f"dir/{n:02d}" for n in range(7)] + ["other/x"]
    for key in keys:
        await store.put_object(key, key.encode())
    listed = [info async for info in store.list_objects("dir/", page_size=3)]
    assert [info.key for info in listed] == keys[:7]
    assert [info.size for info in listed] == [6] * 7
    assert all(info.last_modified.tzinfo is not None for info in listed)
    assert [info.key async for info in store.list_objects(page_size=2)] == keys
    # Keys are relative to the store's prefix: another prefix on the same bucket sees nothing.
    async with S3Store(s3_server.config(prefix=store.config.prefix + "dir/")) as narrower:
        assert [info.key async for info in narrower.list_objects()] == [f"{n:02d}" for n in range(7)]
        assert await narrower.read("03") == b"dir/03"


async def test_closed_store_refuses_calls(s3_config: S3Config) -> None:  # noqa: F811
    store = S3Store(s3_config)
    await store.probe()
    await store.aclose()
    await store.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await store.probe()


async def test_one_client_for_concurrent_first_calls(s3_config: S3Config) -> None:  # noqa: F811
    async with S3Store(s3_config) as store:
        await asyncio.gather(*(store.probe() for _ in range(20)))
        first = store._client
        await store.probe()
        assert store._client is first


# ----------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------


async def test_server_stopped_is_unavailable() -> None:
    async with S3Server() as server:
        config = server.config(prefix="p/", max_attempts=2, connect_timeout=1.0)
        async with S3Store(config) as store:
            await store.put_object("k", b"v")
            await store.put_object("big", payload(64 * MIB))
            stream = await store.open_range("big", block_size=MIB)
            await anext(stream)
            await server.kill()
            with pytest.raises(Unavailable) as cut:  # the connection drops in the middle of the body
                async for _ in stream:
                    pass
            assert_clean(cut.value, server.secret_access_key, server.access_key_id)
            for call in (store.probe, lambda: store.head("k"), lambda: store.put_object("k", b"w")):
                with pytest.raises(Unavailable) as caught:
                    await call()
                assert caught.value.retry_after > 0
                assert "connection failed" in caught.value.message
                assert_clean(caught.value, server.secret_access_key, server.access_key_id)


async def test_silent_server_times_out_as_unavailable() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    listener = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    config = S3Config(
        bucket="b", endpoint=f"http://127.0.0.1:{port}", region="us-east-1", access_key_id="AKIAX",
        secret_access_key="never-shown", addressing="path", read_timeout=0.5, max_attempts=1,
    )  # fmt: skip
    try:
        async with S3Store(config) as store:
            started = asyncio.get_running_loop().time()
            with pytest.raises(Unavailable) as caught:
                await store.head("k")
            assert asyncio.get_running_loop().time() - started < 5
            assert "timed out" in caught.value.message
            assert_clean(caught.value, "never-shown")
    finally:
        listener.close()
        await listener.wait_closed()


async def test_throttling_and_5xx_are_unavailable_after_bounded_retries() -> None:
    """A loopback HTTP server that answers every request like an overloaded S3."""
    requests = 0
    answers = {
        503: b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        500: b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
    }
    status = 503

    async def overloaded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        try:
            await reader.readuntil(b"\r\n\r\n")
            # botocore sends "Expect: 100-continue" with bodies: answer at once, as S3 does, without
            # reading the body, and close the connection (its body was never sent).
            requests += 1
            body = answers[status]
            reason = b"Service Unavailable" if status == 503 else b"Internal Server Error"
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (status, reason, len(body), body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(overloaded, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    config = S3Config(
        bucket="b", endpoint=f"http://127.0.0.1:{port}", region="us-east-1", access_key_id="AKIAX",
        secret_access_key="never-shown", addressing="path", max_attempts=2,
    )  # fmt: skip
    try:
        async with S3Store(config) as store:
            for status in (503, 500):  # the server above answers with the current one
                requests = 0
                with pytest.raises(Unavailable) as caught:
                    await store.upload_part("k", "u", 1, b"data")
                assert requests == 2  # the configured attempts, no more
                assert str(status) in caught.value.message
                assert_clean(caught.value, "never-shown")
    finally:
        listener.close()
        await listener.wait_closed()


async def test_wrong_credentials_are_refused_without_leaking(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with S3Server(auth=True) as server:
        # Everything at DEBUG, with the SDK's loggers as an application leaves them (unset), as
        # if no store had quieted them before: the store must do it itself.
        for name in ("botocore", "aiobotocore"):
            sdk_logger = logging.getLogger(name)
            monkeypatch.setattr(sdk_logger, "level", sdk_logger.level)  # restored afterwards
            sdk_logger.setLevel(logging.NOTSET)  # (setLevel also clears logging's level caches)
        caplog.set_level(logging.DEBUG)
        caplog.clear()  # the server's own set-up (its IAM key) is not under test
        good = server.config(prefix="p/", max_attempts=1)
        async with S3Store(good) as store:
            await store.probe()
            await store.put_object("k", b"v")
            assert await store.read("k") == b"v"
        wrong_secret = "Wr0ng/Secret+Key/ThatMustNotLeak0000000"
        cases = {
            "SignatureDoesNotMatch": server.config(secret_access_key=wrong_secret, max_attempts=1),
            "InvalidAccessKeyId": server.config(
                access_key_id="AKIANOSUCHKEY0000000", secret_access_key=wrong_secret, max_attempts=1
            ),
        }
        for code, config in cases.items():
            async with S3Store(config) as store:
                for call in (store.probe, lambda: store.head("k"), lambda: store.put_object("k", b"x")):
                    with pytest.raises(AccessDenied) as caught:
                        await call()
                    assert caught.value.status == 403
                    if not caught.value.operation.startswith("Head"):  # HEAD answers have no body
                        assert caught.value.code == code
                    assert_clean(
                        caught.value, wrong_secret, server.secret_access_key, config.access_key_id or "?"
                    )
        logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
        for secret in (wrong_secret, server.secret_access_key, server.access_key_id, "AKIANOSUCHKEY0000000"):
            assert secret not in logged


async def test_credentials_from_the_chain_and_missing(
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    chain = s3_server.config(access_key_id=None, secret_access_key=None, max_attempts=1)
    async with S3Store(chain) as store:
        with pytest.raises(CredentialsMissing):
            await store.probe()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    async with S3Store(chain) as store:
        await store.probe()
