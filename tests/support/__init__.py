"""What tests share, one job per module:

- ``servers``: settings for a test server, a running App, fresh databases (``backend_database``).
- ``accounts``: fresh accounts and their tokens.
- ``clients``: ``Client`` (the service stubs with one account's token) and ``make_client``.
- ``errors``: what a failed call says (``error_reason``, ``retry_delay``) and ``expect_error``.
- ``polling``: ``eventually``, the one way to wait for a state no event announces.
- ``clocks``: ``FakeClock``.
- ``tasks``, ``uploading``, ``watching``: the task, upload and watch RPCs as tests call them.
- ``handlers``: a server running chosen task handlers, and running tasks on it to their end.
- ``faults``: blob stores that fail like a disk; ``processes``: a real server child process;
  ``backends``: private PostgreSQL and Redis servers to stop and restart; ``worker_process``: a
  worker child process (``python -m tests.support.worker_process``).
- ``samples``: domain objects to start from.

The names below are importable from ``tests.support`` itself; the rest from their module.
"""

from __future__ import annotations

from tests.support.accounts import auth, new_account, token_for
from tests.support.clients import Client, client_with, make_client
from tests.support.clocks import FakeClock
from tests.support.errors import error_reason, expect_error, expect_unavailable, retry_delay, unavailable
from tests.support.polling import eventually
from tests.support.servers import (
    BACKEND_NAMES,
    PG_ENV,
    REDIS_ENV,
    backend_database,
    default_pool_root,
    is_staged,
    postgres_database,
    running_app,
    settings_for,
    staging_dir,
    stored_bytes,
)

__all__ = [
    "BACKEND_NAMES",
    "PG_ENV",
    "REDIS_ENV",
    "Client",
    "FakeClock",
    "auth",
    "backend_database",
    "client_with",
    "default_pool_root",
    "error_reason",
    "eventually",
    "expect_error",
    "expect_unavailable",
    "is_staged",
    "make_client",
    "new_account",
    "postgres_database",
    "retry_delay",
    "running_app",
    "settings_for",
    "staging_dir",
    "stored_bytes",
    "token_for",
    "unavailable",
]
