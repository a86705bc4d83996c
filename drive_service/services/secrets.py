"""Secret task parameters (passwords) sealed with the server's master key at rest."""

from __future__ import annotations

import json
from typing import Any

from drive_service import crypto
from drive_service.domain.tasks import SECRET_PARAMETERS


class SecretBox:
    """Splits secrets out of parameters and seals them (AES-256-GCM under the master key)."""

    def __init__(self, master_key: bytes) -> None:
        self._master_key = master_key

    def split(self, parameters: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """The parameters without secrets, and the sealed secrets (None when there are none)."""
        secrets = {key: value for key, value in parameters.items() if key in SECRET_PARAMETERS}
        if not secrets:
            return parameters, None
        public = {key: value for key, value in parameters.items() if key not in SECRET_PARAMETERS}
        return public, crypto.wrap_key(self._master_key, json.dumps(secrets).encode())

    def open(self, sealed: bytes | None) -> dict[str, Any]:
        """The secrets sealed by :meth:`split` ({} for None)."""
        if sealed is None:
            return {}
        values: dict[str, Any] = json.loads(crypto.unwrap_key(self._master_key, sealed))
        return values
