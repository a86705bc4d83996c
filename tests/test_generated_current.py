"""The committed stubs in generated/ are exactly what scripts/gen_protos.py makes from protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "generated"
FIX = "generated/ is stale: run `python scripts/gen_protos.py` and commit the result"


def _tree(root: Path) -> dict[str, bytes]:
    """Map each file's '/'-separated path below root to its bytes, ignoring Python caches."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--no-vendor", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"gen_protos.py failed:\n{result.stdout}\n{result.stderr}"

    fresh = _tree(out)
    committed = _tree(COMMITTED) if COMMITTED.is_dir() else {}
    assert fresh, "gen_protos.py produced no files"

    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    differing = sorted(name for name in fresh.keys() & committed.keys() if fresh[name] != committed[name])
    assert not missing, f"{FIX}; missing from generated/: {missing}"
    assert not extra, f"{FIX}; not produced from protos/ any more: {extra}"
    assert not differing, (
        f"{FIX}; differing files: {differing} (if only the version headers differ, the installed "
        "grpcio-tools is not the one the stubs were made with)"
    )
