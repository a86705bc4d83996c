"""S3 failures as the service sees them: retryable ones become ``Unavailable``, the others
distinct exceptions; credentials never travel in a message or an exception chain."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from drive_service.errors import Unavailable
from drive_service.storage.s3.config import T

if TYPE_CHECKING:
    pass

THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout",
     "RequestTimeTooSkewed", "ServiceUnavailable", "InternalError", "TooManyRequests"}
)  # fmt: skip
DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
     "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem"}
)  # fmt: skip
#: Failures of the transport rather than answers of the store (all retryable).
TRANSPORT_ERRORS = (
    BotoConnectionError,  # refused, DNS, connect timeout, proxy, TLS
    HTTPClientError,  # read timeout, connection closed, response streaming error
    IncompleteReadError,  # body shorter than its Content-Length: the connection was cut
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)
SDK_LOGGERS = ("botocore", "aiobotocore")


log = logging.getLogger(__name__)


class S3Error(Exception):
    """The store refused a request for a reason that retrying will not fix.

    ``operation`` is the S3 operation, ``code`` S3's error code (``"404"`` etc. when the answer had
    no body, as for HEAD), ``status`` the HTTP status (0 when no answer was involved), ``key`` the
    relative key when there is one.
    """

    def __init__(self, message: str, *, operation: str, code: str, status: int, key: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.code = code
        self.status = status
        self.key = key


class ObjectNotFound(S3Error):
    """No object with this key."""


class UploadNotFound(S3Error):
    """No multipart upload with this id for this key (never created, completed or aborted)."""


class BucketNotFound(S3Error):
    """The configured bucket does not exist."""


class AccessDenied(S3Error):
    """The credentials were refused (unknown key, wrong secret, expired) or lack a permission."""


class RangeNotSatisfiable(S3Error):
    """The read starts past the end of the object."""


class CredentialsMissing(S3Error):
    """No keys in the configuration and none found by the AWS credential chain."""


async def guarded(call: Awaitable[T], operation: str, key: str | None) -> T:
    """Await one SDK call, turning its failures into this module's errors.

    The mapped error is raised outside the ``except`` block so that it carries no reference to
    botocore's exception (whose parsed answer may name the access key id).
    """
    mapped: Exception
    try:
        return await call
    except ClientError as error:
        mapped = from_client_error(error, operation, key)
    except (NoCredentialsError, PartialCredentialsError):
        mapped = CredentialsMissing(
            f"{operation}: no S3 credentials were configured or found by the AWS credential chain.",
            operation=operation,
            code="NoCredentials",
            status=0,
            key=key,
        )
    except TRANSPORT_ERRORS as error:
        mapped = unavailable(operation, transport_reason(error))
    except BotoCoreError as error:  # anything else botocore raises: not worth a retry
        mapped = S3Error(
            f"{operation} failed in the S3 client ({type(error).__name__}).",
            operation=operation,
            code=type(error).__name__,
            status=0,
            key=key,
        )
    raise mapped


def from_client_error(error: ClientError, operation: str, key: str | None) -> Exception:
    answer: Any = error.response
    code = str(answer.get("Error", {}).get("Code", "")) or "Unknown"
    status = int(answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if status >= 500 or code in THROTTLING_CODES or status in (429, 503):
        return unavailable(
            operation, f"HTTP {status} {code}", retry_after=2.0 if status in (429, 503) else 1.0
        )
    where = f" of {key!r}" if key is not None else ""
    answer_text = f"HTTP {status}" if code == str(status) else f"HTTP {status} {code}"  # HEAD has no body
    message = f"{operation}{where} was refused: {answer_text}."
    kind: type[S3Error] = S3Error
    if code == "NoSuchUpload":
        kind = UploadNotFound
    elif code == "NoSuchBucket" or (operation == "HeadBucket" and status == 404):
        kind = BucketNotFound
    elif code in ("NoSuchKey", "NotFound", "404") or (
        status == 404 and operation in ("HeadObject", "GetObject")
    ):
        kind = ObjectNotFound
    elif code in DENIED_CODES or status in (401, 403):
        kind = AccessDenied
    elif code == "InvalidRange" or status == 416:
        kind = RangeNotSatisfiable
    return kind(message, operation=operation, code=code, status=status, key=key)


def unavailable(operation: str, reason: str, *, retry_after: float = 1.0) -> Unavailable:
    return Unavailable(
        f"The object store did not complete {operation} ({reason}); retry later.",
        retry_after=retry_after,
        operation=operation,
    )


def transport_reason(error: BaseException) -> str:
    # Class names only: botocore's messages include the endpoint URL, harmless, but nothing here
    # should need auditing for what a message might carry.
    if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
        return f"timed out: {type(error).__name__}"
    return f"connection failed: {type(error).__name__}"
