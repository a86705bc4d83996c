"""The reference REST gateway (gateway/): build it with gateway/build.sh, run it on a free port.

Shared by the REST test tier and ``bench/rest_upload.py``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "gateway" / "build.sh"
BINARY = REPO / "gateway" / "build" / "bin" / "drive-gateway"
#: build.sh's exit status when Go or its Debian packages cannot be installed on this machine.
CANNOT_INSTALL = 3


class GatewayUnavailable(RuntimeError):
    """Go or the gateway's Debian packages cannot be installed here."""


def build_gateway(timeout: float = 900.0) -> Path:
    """Run gateway/build.sh (a quick no-op when the binary is current) and return the binary.

    Raises:
        GatewayUnavailable: build.sh exited with CANNOT_INSTALL (its explanation is the message).
        RuntimeError: any other build failure, with the script's output.
    """
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode == CANNOT_INSTALL:
        raise GatewayUnavailable(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "")
    if result.returncode != 0 or not BINARY.is_file():
        raise RuntimeError(
            f"gateway/build.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return BINARY


@dataclass(frozen=True)
class RunningGateway:
    """A started gateway: its base URL (``http://127.0.0.1:PORT``) and process id."""

    url: str
    pid: int


@contextmanager
def running_gateway(
    backend_port: int, *arguments: str, log_dir: Path | None = None, timeout: float = 15.0
) -> Iterator[RunningGateway]:
    """The built gateway in front of ``127.0.0.1:backend_port``, listening on a free loopback port.

    Its stderr goes to ``drive-gateway.log`` in
    ``log_dir`` (a temporary directory by default); the port is read from its ``serving`` log line.
    It gets SIGTERM on exit (SIGKILL after 10 s).
    """
    with tempfile.TemporaryDirectory(prefix="drive-gateway-") as scratch:
        log_path = (log_dir or Path(scratch)) / "drive-gateway.log"
        with log_path.open("wb") as log:
            # -exit-with-stdin: should this process die without stopping it, the pipe closes and
            # the gateway stops too instead of lingering.
            process = subprocess.Popen(
                [
                    str(BINARY),
                    "-listen",
                    "127.0.0.1:0",
                    "-backend",
                    f"127.0.0.1:{backend_port}",
                    "-exit-with-stdin",
                    *arguments,
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
            )
        try:
            yield RunningGateway(f"http://127.0.0.1:{_port(process, log_path, timeout)}", process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if process.stdin is not None:
                process.stdin.close()


def _port(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
    """The port of the ``serving`` log line, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # Go packages may print plain warnings before the first JSON line
            if isinstance(entry, dict) and entry.get("message") == "serving":
                return int(entry["port"])
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.02)
    raise RuntimeError(f"the gateway did not start in {timeout:.0f} s:\n{log_path.read_text()}")
