"""Service health: each backend probed with a time limit, plus queue lengths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drive_service.domain.tasks import TaskStatus
from drive_service.services.ports import TaskStore

Probe = Callable[[], Awaitable[None]]
_PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One backend's state; ``detail`` is a short, secret-free sentence."""

    name: str
    configured: bool
    healthy: bool
    detail: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class HealthReport:
    """Every component and the task queue lengths (-1 when the database is down)."""

    components: list[ComponentHealth]
    pending_tasks: int
    in_progress_tasks: int

    @property
    def healthy(self) -> bool:
        """All configured components answer."""
        return all(component.healthy for component in self.components if component.configured)


class HealthChecker:
    """Runs the probes built by the composition root (``None`` = component not configured)."""

    def __init__(self, probes: dict[str, Probe | None], tasks: TaskStore) -> None:
        self._probes = probes
        self._tasks = tasks

    async def report(self) -> HealthReport:
        """Probe everything concurrently and count queued and running tasks."""
        components = await asyncio.gather(*(self._check(name, probe) for name, probe in self._probes.items()))
        counts: dict[TaskStatus, int] = {}
        database_up = next((c.healthy for c in components if c.name == "database"), False)
        if database_up:
            counts = await self._tasks.count_by_status()
        missing = 0 if database_up else -1
        return HealthReport(
            components=list(components),
            pending_tasks=counts.get(TaskStatus.PENDING, missing),
            in_progress_tasks=counts.get(TaskStatus.IN_PROGRESS, missing),
        )

    @staticmethod
    async def _check(name: str, probe: Probe | None) -> ComponentHealth:
        if probe is None:
            return ComponentHealth(name, False, False, "not configured", 0.0)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):  # not wait_for: see Worker.run
                await probe()
        except Exception as error:
            detail = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            return ComponentHealth(name, True, False, detail, _elapsed_ms(started))
        return ComponentHealth(name, True, True, "ok", _elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
