"""`python -m drive_service` runs the command line."""

from __future__ import annotations

from drive_service.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
