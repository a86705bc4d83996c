"""One hostile example, end to end: make what it refers to, call, then check everything.

``Harness.run`` is the property every test module states: for one drawn call of one RPC, the
answer is a clear error or a readable response (checks.py), a refused call stored nothing, the
victim is untouched and unseen, the server is SERVING and the caller's normal reads still work,
and nothing was logged with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from hypothesis import assume

from drive.v1 import files_pb2
from drive_service.app import App
from tests.hostile import checks, observe
from tests.hostile.checks import Leak, LogCapture, Problems, StoredOnRefusal
from tests.hostile.invoke import Channels, Outcome, invoke
from tests.hostile.rpcs import Rpc
from tests.hostile.spec import Many, Msg, Resolve, build, refs, size
from tests.hostile.wire import Raw
from tests.hostile.world import MARKER, Account, Stubs, make_victim, materialize, resolver

UNARY_DEADLINE = 15.0  # generous on a loaded machine; a unary call that takes longer has hung
CLIENT_STREAM_DEADLINE = 30.0
#: Server streams (and calls asked to hold, like WaitTask) are ended by this deadline.
HOLD_DEADLINE = 0.2
_STREAM_BUDGET = 32 * 1024 * 1024  # bytes one example may send (a drawn stream may be huge)
#: Triage mode: record every failing example in this JSON-lines file instead of stopping at the
#: first; each test that recorded one still fails, at its teardown (see conftest.py).
CATALOG = os.environ.get("DRIVE_HOSTILE_CATALOG")


@dataclass(frozen=True)
class Ran:
    """A call made and checked: what it answered, as whom, and the caller's Counts afterwards."""

    outcome: Outcome
    caller: Account
    after: observe.Counts


@dataclass(frozen=True)
class Call:
    """One drawn call: with an admin token or not, and the body (a message, a Raw, or for a
    client stream a tuple of them or a Many)."""

    admin: bool
    body: object
    label: str = ""  # what a deterministic case tries, printed first

    def __repr__(self) -> str:
        label = f"{self.label}: " if self.label else ""
        return f"{label}{'[admin] ' if self.admin else ''}{self.body!r}"


class Harness:
    """A running server, a channel to it, its log, and the victim account."""

    def __init__(self, app: App, channels: Channels, logs: LogCapture, backend: str) -> None:
        self.app = app
        self.channels = channels
        self.channel = channels.aio
        self.logs = logs
        self.backend = backend
        self.stubs = Stubs.on(channels.aio)
        self.victim: Account
        self.victim_print: tuple[bytes, ...] = ()
        self.pool_id = ""
        self.recorded = 0  # failing examples written to the catalog so far

    async def start(self) -> None:
        """Make the victim's data and note its fingerprint."""
        self.victim = await make_victim(self.stubs, self.app.settings)
        pools = await self.stubs.files.ListPools(files_pb2.ListPoolsRequest(), metadata=self.victim.metadata)
        self.pool_id = pools.pools[0].id
        self.victim_print = await observe.fingerprint(self.channels, self.victim.metadata)
        self.logs.take()

    @property
    def message_limit(self) -> int:
        """The server's largest accepted message (bigger ones are refused by gRPC itself)."""
        return self.app.settings.uploads.max_chunk_size + 1024 * 1024

    async def run(
        self,
        rpc: Rpc,
        call: Call,
        *,
        malformed: bool = False,
        foreign: bool = False,
        caller: Account | None = None,
        before: observe.Counts | None = None,
        check_victim: bool = True,
    ) -> Ran:
        """Make the call and check every invariant; raises a HostileFailure.

        ``malformed``: the request does not parse, so INVALID_ARGUMENT MALFORMED_REQUEST is due.
        ``foreign``: every id in the request is the victim's, so no answer may reveal its state.
        ``caller``: by default a fresh account; ``before``: its Counts, when known already.
        ``check_victim=False``: the caller checks the victim later (``victim_unchanged``).
        """
        self._fits(rpc, call.body)
        problems = Problems()
        earlier = self.logs.take()  # logged after the previous example's checks: still ours to report
        fresh = caller is None
        caller = caller or Account.fresh(self.app.settings)
        made = await materialize(self.stubs, caller, refs(call.body))
        if made or (before is None and not fresh):
            before = await observe.counts(self.channels, caller.metadata, Problems())
        before = before or observe.Counts()  # a fresh account that made nothing has nothing
        requests = self._encode(rpc, call.body, resolver(caller, self.victim, self.pool_id))
        metadata = caller.admin_metadata if call.admin else caller.metadata
        outcome = await invoke(self.channels, rpc, requests, metadata, self._deadline(rpc))
        checks.check_outcome(problems, outcome, deadline_ok=rpc.server_streaming or rpc.holds_call)
        if malformed:
            checks.check_malformed(problems, outcome)
        checks.check_no_marker(problems, outcome, MARKER)
        if foreign:
            _check_foreign(problems, outcome)
        # A refused call changed nothing (checked below): the count reads then see every row
        # it could have touched. The victim can only be reached through its ids or a success.
        victim = outcome.ok or any(ref.name.startswith("victim.") for ref in refs(call.body))
        after = await self.after(problems, caller, every_read=outcome.ok, victim=victim and check_victim)
        if not outcome.ok:
            _check_nothing_stored(problems, rpc, outcome, before, after)
        checks.check_logs(problems, earlier + self.logs.take())
        self._report(rpc, call, problems)
        return Ran(outcome, caller, after)

    async def after(
        self, problems: Problems, caller: Account, *, every_read: bool = True, victim: bool = True
    ) -> observe.Counts:
        """The server is SERVING, the caller's reads work (returns its Counts) and, when asked,
        the victim is unchanged."""
        _, after = await asyncio.gather(
            observe.serving(self.channel, problems),
            observe.counts(self.channels, caller.metadata, problems, every_read=every_read),
        )
        if victim:
            await self.victim_unchanged(problems)
        return after

    async def victim_unchanged(self, problems: Problems) -> None:
        """The victim's tasks, uploads, files, bundles and quota use are as they were."""
        victim_print = await observe.fingerprint(self.channels, self.victim.metadata)
        if victim_print != self.victim_print:
            problems.add(Leak, "the victim's tasks, uploads, files, bundles or quota use changed")
            self.victim_print = victim_print  # report each change once

    def report(self, problems: Problems, example: str) -> None:
        """Raise the problems found (or, in triage mode, record them)."""
        self._report_text(problems, example)

    def report_all(self, found: list[tuple[Problems, str]]) -> None:
        """The same for several examples: raise once, listing every one that has problems."""
        failures = []
        for problems, example in found:
            try:
                self._report_text(problems, example)
            except checks.HostileFailure as failure:
                failures.append(failure)
        checks.raise_first_of(failures)

    def _fits(self, rpc: Rpc, body: object) -> None:
        """Skip draws gRPC itself would refuse (a message over the server's limit) or that are
        too big to send quickly; drive.v1's own checks are what is under test."""
        items = body.item if isinstance(body, Many) else body
        each = items if isinstance(items, tuple) and rpc.client_streaming else (items,)
        per_message = [size(item.base if isinstance(item, Raw) else item) for item in each]
        total = sum(per_message) * (body.count if isinstance(body, Many) else 1)
        if max(per_message, default=0) >= self.message_limit - 4096 or total >= _STREAM_BUDGET:
            assume(False)

    def _deadline(self, rpc: Rpc) -> float:
        if rpc.server_streaming or rpc.holds_call:
            return HOLD_DEADLINE
        return CLIENT_STREAM_DEADLINE if rpc.client_streaming else UNARY_DEADLINE

    def _encode(self, rpc: Rpc, body: object, resolve: Resolve) -> bytes | Iterator[bytes]:
        message_class = rpc.request_class()

        def one(item: object) -> bytes:
            if isinstance(item, Raw):
                data = item.encode(build(item.base, message_class(), resolve).SerializeToString())
                _assert_unparsable(message_class, data, item)
                return data
            assert isinstance(item, Msg)
            return bytes(build(item, message_class(), resolve).SerializeToString())

        if not rpc.client_streaming:
            return one(body)
        if isinstance(body, Many):
            encoded = one(body.item)
            return iter([encoded] * body.count)
        return iter([one(item) for item in body])  # type: ignore[attr-defined]

    def _report(self, rpc: Rpc, call: Call, problems: Problems) -> None:
        self._report_text(problems, f"{rpc.id} on {self.backend}: {call!r}")

    def _report_text(self, problems: Problems, example: str) -> None:
        if not problems:
            return
        if CATALOG is None:
            checks.raise_first(problems, example)
        entry = {
            "example": example[:4000],
            "backend": self.backend,
            "kinds": [kind.__name__ for kind in problems.kinds()],
            "problems": problems.text(),
        }
        with Path(str(CATALOG)).open("a", encoding="utf-8") as catalog:
            catalog.write(json.dumps(entry) + "\n")
        self.recorded += 1


def _assert_unparsable(message_class: Any, data: bytes, raw: Raw) -> None:
    """A test bug, not a server one: the corruption must really make the bytes unparsable."""
    try:
        message_class.FromString(data)
    except DecodeError:
        return
    raise AssertionError(f"test bug: {raw!r} parses as {message_class.DESCRIPTOR.name}")


#: Answers that tell a caller something about a resource that is not theirs (its state).
_REVEALING = {
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.DATA_LOSS,
}


def _check_foreign(problems: Problems, outcome: Outcome) -> None:
    if outcome.code in _REVEALING:
        problems.add(Leak, f"another account's resource answered as if it existed: {outcome.describe()}")


def _check_nothing_stored(
    problems: Problems, rpc: Rpc, outcome: Outcome, before: observe.Counts, after: observe.Counts
) -> None:
    """A refused call leaves the counts and the stored bytes as they were (and the reserved bytes
    no higher), as far as the reads tell. One exception, by contract: a client stream that
    created an upload before failing (UploadFile) names it in the ErrorInfo (``taskId``) so that
    the client can resume it; that upload may remain, with its reservation."""
    resumable = rpc.client_streaming and outcome.infos and "taskId" in outcome.infos[0].metadata
    changed = []
    for name in ("tasks", "uploads", "files", "bundles", "used_bytes", "reserved_bytes"):
        old, new = getattr(before, name), getattr(after, name)
        if old is None or new is None:
            continue
        if name == "reserved_bytes":
            fine = resumable or new <= old  # a refusal may release a reservation (a failed upload)
        else:
            fine = new == old or (resumable and name in ("tasks", "uploads") and new == old + 1)
        if not fine:
            changed.append(f"{name} {old} → {new}")
    if changed:
        problems.add(StoredOnRefusal, f"refused ({outcome.code.name}) but {', '.join(changed)}")
