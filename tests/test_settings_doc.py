"""The README's configuration tables are exactly the documented settings, and the documented
settings are exactly those the service reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from drive_service import settings_table
from drive_service.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


class _Recording(Mapping[str, str]):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self, base: dict[str, str]) -> None:
        self.base = base
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.base[name]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(name)
        return self.base.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


def test_readme_tables_are_generated_from_the_settings_table() -> None:
    text = README.read_text()
    start = text.index("\n", text.index("<!-- settings:begin")) + 1
    end = text.index("<!-- settings:end -->")
    assert text[start:end] == settings_table.markdown(), "run: python -m drive_service.settings_table"


def test_the_documented_settings_are_the_ones_read(tmp_path: Path) -> None:
    env = _Recording({"DRIVE_DATA_DIR": str(tmp_path)})
    Settings.from_env(env)
    assert env.asked == set(settings_table.VARIABLES)
