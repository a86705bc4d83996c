"""Bearer tokens: local JWT verification (HS256 or RS256/ES256) and development minting."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from drive_service.config import JwtSettings
from drive_service.errors import Unauthenticated

ADMIN_PERMISSION = "drive.admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated account behind a call."""

    account_id: str
    tier: int = 0
    permissions: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        """Whether the token grants ``drive.admin``."""
        return ADMIN_PERMISSION in self.permissions


class TokenVerifier:
    """Turns an ``authorization`` header value into a Caller."""

    def __init__(self, settings: JwtSettings, *, remembered: int = 10_000) -> None:
        self._settings = settings
        self._key = settings.public_key or settings.secret or ""
        # Clients send the same token on every call: a verified one is remembered until it
        # expires, which spares a signature check per call (about 0.3 ms for HS256).
        self._verified: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._remembered = remembered

    def verify(self, header: str | None) -> Caller:
        """Verify ``Bearer <JWT>``: signature, ``exp`` (required), ``iss``/``aud`` when configured.

        Raises:
            Unauthenticated: missing, malformed, expired or wrongly signed token, or a ``sub``
                that is not a UUID.
        """
        if not header:
            raise Unauthenticated("A bearer token is required.", reason="MISSING_TOKEN")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "The authorization header must be 'Bearer <token>'.", reason="MALFORMED_TOKEN"
            )
        token = token.strip()
        known = self._verified.get(token)
        if known is not None and known[0] > time.time():
            return known[1]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=list(self._settings.algorithms),
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                options={"require": ["exp", "sub"], "verify_aud": self._settings.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired.", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The token is not valid.", reason="INVALID_TOKEN") from None
        caller = Caller(
            account_id=_account_id(claims.get("sub")),
            tier=_tier(claims.get("tier")),
            permissions=_permissions(claims.get("perms")),
        )
        self._remember(token, float(claims["exp"]), caller)
        return caller

    def _remember(self, token: str, expires_at: float, caller: Caller) -> None:
        self._verified[token] = (expires_at, caller)
        self._verified.move_to_end(token)
        if len(self._verified) > self._remembered:
            self._verified.popitem(last=False)


def mint(
    settings: JwtSettings, account_id: str, ttl: timedelta, *, tier: int = 0, perms: list[str] | None = None
) -> str:
    """A development HS256 token for ``account_id`` (needs the shared secret).

    Raises:
        ValueError: no secret is configured (tokens are then issued by someone else).
    """
    if settings.secret is None:
        raise ValueError("minting needs DRIVE_JWT_SECRET (or the embedded secret)")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(uuid.UUID(account_id)),
        "iat": now,
        "exp": now + ttl,
        "tier": tier,
    }
    if perms:
        claims["perms"] = perms
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    return jwt.encode(claims, settings.secret, algorithm="HS256")


def _account_id(subject: object) -> str:
    try:
        return str(uuid.UUID(str(subject)))
    except ValueError:
        raise Unauthenticated("The token subject must be an account UUID.", reason="INVALID_TOKEN") from None


def _tier(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _permissions(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
