"""Storage pools and their policy: who may upload what, how big, with or without encryption."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from drive_service.errors import PermissionDenied, PoolNotFound


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """Upload rules of a pool; ``max_file_size`` 0 means unlimited, empty ``accept_types`` all."""

    max_file_size: int = 0
    accept_types: tuple[str, ...] = ()
    allow_encryption: bool = True
    require_privilege: int = 0
    public_usable: bool = True
    hidden: bool = False
    default_expiry: timedelta | None = None


#: S3's smallest part but the last of a multipart upload.
S3_MIN_PART_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectStorage:
    """An S3-compatible bucket holding a pool's bytes, as the pools file gives it. Without keys
    the standard AWS credential chain applies; the keys never appear in a repr."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    addressing: str | None = None
    #: The store's smallest part but the last (S3's 5 MiB; lower only for stores that allow it).
    min_part_size: int = S3_MIN_PART_SIZE


@dataclass(frozen=True, slots=True)
class Pool:
    """A place where blobs are stored, with its policy and billing weight: a folder on local disk
    (``root``), or a bucket (``remote``; then nothing is written under ``root``)."""

    id: str
    name: str
    description: str
    root: Path
    policy: PoolPolicy
    cost_multiplier: float = 1.0
    owner_account_id: str | None = None
    remote: ObjectStorage | None = None

    def usable_by(self, account_id: str, tier: int) -> bool:
        """Whether the account may upload here (ownership or public use, and enough privilege)."""
        allowed = self.policy.public_usable or self.owner_account_id == account_id
        return allowed and tier >= self.policy.require_privilege

    def visible_to(self, account_id: str, tier: int) -> bool:
        """Whether ListPools shows the pool to the account (hidden pools only to their owner)."""
        if self.policy.hidden and self.owner_account_id != account_id:
            return False
        return self.usable_by(account_id, tier)

    def check_upload(
        self, *, account_id: str, tier: int, size: int, content_type: str, encrypted: bool
    ) -> None:
        """Apply the policy to an upload, in the order of docs/contract.md#uploads.

        Raises:
            PoolNotFound: a hidden pool the caller may not use (it must not learn that it exists).
            PermissionDenied: reasons POOL_NOT_USABLE, INSUFFICIENT_PRIVILEGE, ENCRYPTION_NOT_ALLOWED,
                CONTENT_TYPE_NOT_ALLOWED or FILE_TOO_LARGE.
        """
        if self.policy.hidden and not self.visible_to(account_id, tier):
            raise PoolNotFound(self.id)
        if not (self.policy.public_usable or self.owner_account_id == account_id):
            raise PermissionDenied(
                f"Pool {self.id} is not available to this account.", reason="POOL_NOT_USABLE", pool_id=self.id
            )
        if tier < self.policy.require_privilege:
            raise PermissionDenied(
                f"Pool {self.id} requires privilege tier {self.policy.require_privilege}; yours is {tier}.",
                reason="INSUFFICIENT_PRIVILEGE",
                pool_id=self.id,
                required_tier=self.policy.require_privilege,
                tier=tier,
            )
        if encrypted and not self.policy.allow_encryption:
            raise PermissionDenied(
                "File encryption is not allowed in this pool.",
                reason="ENCRYPTION_NOT_ALLOWED",
                pool_id=self.id,
            )
        if not accepts(self.policy.accept_types, content_type):
            raise PermissionDenied(
                f"Content type {content_type} is not allowed by the pool's policy.",
                reason="CONTENT_TYPE_NOT_ALLOWED",
                pool_id=self.id,
                content_type=content_type,
            )
        if self.policy.max_file_size and size > self.policy.max_file_size:
            raise PermissionDenied(
                f"The file is {size} bytes; the pool accepts at most {self.policy.max_file_size}.",
                reason="FILE_TOO_LARGE",
                pool_id=self.id,
                size=size,
                max_file_size=self.policy.max_file_size,
            )


def accepts(patterns: tuple[str, ...], content_type: str) -> bool:
    """Match a content type against ``*/*``, ``type/*`` and exact patterns (case-insensitive)."""
    if not patterns:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    major = kind.split("/", 1)[0]
    for pattern in (p.strip().lower() for p in patterns):
        if pattern in ("*", "*/*", kind) or (pattern.endswith("/*") and pattern[:-2] == major):
            return True
    return False
