"""A real S3-API server for tests and benchmarks: moto's server as a child process on loopback.

Why a child process rather than moto's ``ThreadedMotoServer``: the threaded server runs werkzeug in
a thread of the *test* process, so every request it parses (MD5 of each part, copies of each body,
the whole object joined at CompleteMultipartUpload) holds the test process's GIL and stalls the
client's event loop; throughput figures would then measure that contention, not the client.
A process of its own also keeps moto's objects (held in memory) out of the test process, and can
be stopped or killed to simulate an outage.

``S3Server`` starts ``python -m moto.server`` on a free 127.0.0.1 port, waits until it answers,
creates the bucket, and on exit stops it (SIGTERM, then SIGKILL). With ``auth=True`` it also
creates an IAM user whose key may do anything on S3, then switches moto's signature and
permission checks on, so wrong credentials are refused as AWS would.

Fixtures (import them into a test module, or name this module in ``pytest_plugins``):
``s3_server`` (one per session) and ``s3_config`` (an ``S3Config`` on a fresh prefix per test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import pytest
from aiobotocore.session import AioSession

from drive_service.storage.s3 import S3Config
from tests.support.backends import free_port

_READY_TIMEOUT = 30.0  # moto imports a lot: a cold start takes a few seconds on a busy 2-core box
_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
REGION = "us-east-1"
#: moto accepts any key while its auth checks are off; these only have to look like keys.
ANY_KEY_ID = "AKIAMOTOTESTKEY00000"
ANY_SECRET = "moto-test-secret-not-checked"
#: werkzeug colours some access-log lines; the codes are dropped before parsing.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST = re.compile(r'"([A-Z]+ \S+) HTTP/1\.[01]" \d{3}')
_ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


class S3Server:
    """One moto server child process with one bucket (``async with`` starts and removes it).

    ``endpoint``, ``bucket``, ``access_key_id`` and ``secret_access_key`` are what clients use;
    ``stop()``/``kill()`` and ``start()`` may be repeated (a restarted moto is empty, and the
    bucket is created again). ``env`` adds variables to the child's environment (for example
    ``S3_UPLOAD_PART_MIN_SIZE``).
    """

    def __init__(self, *, bucket: str = "drive-test", auth: bool = False, env: dict[str, str] | None = None):
        self.bucket = bucket
        self.auth = auth
        self.port = free_port()
        self.access_key_id = ANY_KEY_ID
        self.secret_access_key = ANY_SECRET
        self._env = env or {}
        self._root = Path(tempfile.mkdtemp(prefix="drive-s3-", dir="/tmp"))
        self._process: asyncio.subprocess.Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def config(self, prefix: str = "", **overrides: Any) -> S3Config:
        """An ``S3Config`` for this server's bucket (path addressing, its credentials)."""
        settings: dict[str, Any] = {
            "bucket": self.bucket,
            "prefix": prefix,
            "endpoint": self.endpoint,
            "region": REGION,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "addressing": "path",
        }
        settings.update(overrides)
        return S3Config(**settings)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.cleanup()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.cleanup()

    async def start(self) -> None:
        """Start on the same port; returns once the bucket exists (and auth is on, if asked)."""
        assert self._process is None, "already running"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_"))}
        env.update(self._env)
        log = (self._root / "log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True,  # a Ctrl-C on the tests reaches us; we stop the server
            )  # fmt: skip
        finally:
            log.close()
        try:
            async with asyncio.timeout(_READY_TIMEOUT):
                while not await self._answers():
                    if self._process.returncode is not None:
                        raise RuntimeError(f"moto server exited:\n{self._log_tail()}")
                    await asyncio.sleep(_POLL_INTERVAL)
        except TimeoutError:
            raise RuntimeError(
                f"moto server not ready within {_READY_TIMEOUT} s:\n{self._log_tail()}"
            ) from None
        self.access_key_id, self.secret_access_key = ANY_KEY_ID, ANY_SECRET
        async with self._client("s3") as s3:
            await s3.create_bucket(Bucket=self.bucket)
        if self.auth:
            await self._enable_auth()

    async def stop(self) -> None:
        """SIGTERM (SIGKILL if it lingers) and wait until the process is gone."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def kill(self) -> None:
        """SIGKILL, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def cleanup(self) -> None:
        try:
            await self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def rss_bytes(self) -> int:
        """The server's resident memory now (moto keeps every object in memory)."""
        if self._process is None:
            return 0
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def requests(self) -> list[str]:
        """The requests the server logged so far, as "METHOD /path?query" (werkzeug's access log)."""
        text = _ANSI.sub("", self._log_tail(limit=None))
        return [match.group(1) for match in _REQUEST.finditer(text)]

    async def _enable_auth(self) -> None:
        """An IAM user allowed s3:*, whose key becomes this server's; then moto checks every request
        (signature, key, permissions) from now on."""
        async with self._client("iam") as iam:
            await iam.create_user(UserName="drive")
            await iam.put_user_policy(UserName="drive", PolicyName="s3", PolicyDocument=_ADMIN_POLICY)
            key = (await iam.create_access_key(UserName="drive"))["AccessKey"]
        async with aiohttp.ClientSession() as http:
            # moto's own switch: enforce auth after 0 more unauthenticated requests.
            async with http.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0") as answer:
                answer.raise_for_status()
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]

    def _client(self, service: Literal["s3", "iam"]) -> Any:
        return AioSession().create_client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    async def _answers(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
                http.get(f"{self.endpoint}/moto-api/data.json") as answer,
            ):
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _log_tail(self, limit: int | None = 3000) -> str:
        with contextlib.suppress(OSError):
            text = (self._root / "log").read_text(errors="replace")
            return text if limit is None else text[-limit:]
        return ""


@pytest.fixture(scope="session")
async def s3_server() -> AsyncIterator[S3Server]:
    """One moto server (auth checks off) shared by the session's tests; each uses its own prefix."""
    async with S3Server() as server:
        yield server


@pytest.fixture
def s3_config(s3_server: S3Server) -> S3Config:
    """The shared server's bucket under a prefix no other test uses."""
    return s3_server.config(prefix=f"t-{secrets.token_hex(6)}/")


#: The smallest part the API tests' S3 server accepts: the service's smallest chunk, so tests
#: keep their small chunks (a real S3 store wants 5 MiB, the pools' default ``min_part_size``).
TEST_MIN_PART_SIZE = 256 * 1024


def s3_storage(server: S3Server, *, prefix: str = "", **overrides: Any) -> dict[str, Any]:
    """A pools file's ``storage`` table for an S3 pool on ``server``'s bucket under ``prefix``
    (default: a fresh one), parts down to TEST_MIN_PART_SIZE; ``overrides`` replace keys."""
    storage: dict[str, Any] = {
        "kind": "s3",
        "bucket": server.bucket,
        "prefix": prefix or f"pool-{secrets.token_hex(6)}/",
        "endpoint": server.endpoint,
        "region": REGION,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "addressing": "path",
        "min_part_size": TEST_MIN_PART_SIZE,
    }
    storage.update(overrides)
    return storage


def s3_pools_file(
    server: S3Server, folder: Path, pool_id: str, *, prefix: str = "", endpoint: str = ""
) -> Path:
    """A pools file in ``folder`` with one public S3 pool ``pool_id`` (see s3_storage), reached at
    ``endpoint`` (default: the server's own; else, for example, a relay in front of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pools.json"
    storage = s3_storage(server, prefix=prefix, endpoint=endpoint or server.endpoint)
    pool = {"id": pool_id, "name": "S3", "storage": storage}
    path.write_text(json.dumps({"pools": [pool]}))
    return path


def small_parts_server() -> S3Server:
    """An S3 server for the service's S3 pools in tests (parts down to TEST_MIN_PART_SIZE)."""
    return S3Server(env={"S3_UPLOAD_PART_MIN_SIZE": str(TEST_MIN_PART_SIZE)})
