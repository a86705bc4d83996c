"""The client library loads without the server: no app, services, storage or SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER_MODULES = ("drive_service.app", "drive_service.services", "drive_service.storage", "sqlalchemy")


def test_client_imports_without_server_modules() -> None:
    code = (
        "import json, sys\n"
        "import drive_service.client, drive_service.client.cli\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'generated'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(result.stdout)
    assert "drive_service.client" in loaded and "grpc" in loaded
    offending = [name for name in loaded if name.startswith(SERVER_MODULES)]
    assert offending == []
