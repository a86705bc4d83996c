"""The aiobotocore client of a store, and keeping the SDK's debug logs from printing credentials."""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from drive_service.storage.s3.config import S3Config
from drive_service.storage.s3.errors import SDK_LOGGERS

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client


def quiet_sdk_debug_logs() -> None:
    """botocore's DEBUG lines print signed request headers (with the access key id) and bodies:
    raise its loggers to INFO unless someone set a level on them on purpose."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


@functools.cache
def _shared_session() -> AioSession:
    """One SDK session for every store: it caches the service model and client class, which
    take a few hundred milliseconds of CPU to build (on the event loop) for each new session."""
    return AioSession()


async def open_client(config: S3Config) -> tuple[S3Client, contextlib.AsyncExitStack]:
    """A new aiobotocore client for ``config`` and the stack that closes it."""
    quiet_sdk_debug_logs()
    stack = contextlib.AsyncExitStack()
    session = _shared_session()
    client_config = AioConfig(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_pool_connections=config.max_connections,
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},
        s3={"addressing_style": config.addressing or "auto"},
        # botocore's validation refuses memoryviews (which aiohttp sends without a
        # copy); every parameter is built here, so it would only cost time.
        parameter_validation=False,
        # No extra checksum pass over every body: the service CRC32C-checks each chunk
        # itself (and over plain http botocore already SHA-256-signs every payload).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = await stack.enter_async_context(
        session.create_client(
            "s3",
            region_name=config.region,
            endpoint_url=config.endpoint,
            config=client_config,
            # None (both, as the config guarantees) lets the credential chain decide.
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
        )
    )
    return client, stack
