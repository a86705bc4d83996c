"""The invariants every call must keep, and how a broken one is reported.

Each kind of breakage raises its own AssertionError subclass, so that Hypothesis (which tells bugs
apart by exception type and raising line) shrinks and prints one minimal example per kind instead
of stopping at the first.
"""

from __future__ import annotations

import logging
import re
import traceback
from dataclasses import dataclass, field

import grpc

from tests.hostile.invoke import Outcome

#: The client's default soft limit on received metadata: above it the call may fail with
#: RESOURCE_EXHAUSTED instead of the server's error.
MAX_METADATA_BYTES = 8 * 1024
#: Errors echo at most a short prefix of an input (issue 9, item 3: "e.g. 128 characters"); these
#: bounds leave room for escaping (up to 10 characters per escaped one) and the error's own words.
MAX_MESSAGE_CHARS = 4096
MAX_INFO_VALUE_CHARS = 2048
_REASON = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")
_BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
_LOST = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


class HostileFailure(AssertionError):
    """Base of the suite's failures."""


class ServerFault(HostileFailure):
    """INTERNAL or UNKNOWN: the server did not handle the input."""


class MissingErrorInfo(HostileFailure):
    """An error without exactly one google.rpc.ErrorInfo of domain "drive"."""


class OversizedError(HostileFailure):
    """An error too big for the client's metadata limit, or echoing too much of the input."""


class WrongAnswer(HostileFailure):
    """A well-defined input answered with the wrong code or reason, or an unreadable response."""


class CallLost(HostileFailure):
    """The call hung past its deadline, or the connection was lost."""


class StoredOnRefusal(HostileFailure):
    """A refused call changed what the account has stored."""


class Unhealthy(HostileFailure):
    """After the call the server is not SERVING, or normal calls of the account fail."""


class LoggedTraceback(HostileFailure):
    """The server (or grpcio inside it) logged a traceback."""


class Leak(HostileFailure):
    """Another account's data was revealed or changed."""


#: Most specific first: the first kind found is the one raised.
ORDER = (
    ServerFault, MissingErrorInfo, OversizedError, WrongAnswer, CallLost, Leak, StoredOnRefusal,
    Unhealthy, LoggedTraceback,
)  # fmt: skip


@dataclass
class Problems:
    """The broken invariants of one example, by kind."""

    found: list[tuple[type[HostileFailure], str]] = field(default_factory=list)

    def add(self, kind: type[HostileFailure], text: str) -> None:
        self.found.append((kind, text))

    def __bool__(self) -> bool:
        return bool(self.found)

    def kinds(self) -> list[type[HostileFailure]]:
        return sorted({kind for kind, _ in self.found}, key=ORDER.index)

    def text(self) -> str:
        return "\n".join(f"[{kind.__name__}] {line}" for kind, line in self.found)


def check_outcome(problems: Problems, outcome: Outcome, *, deadline_ok: bool) -> None:
    """The call itself: a clear error or a readable response (``deadline_ok``: a server stream or
    a call that may hold until its deadline, which then ends it)."""
    if outcome.unparsable_responses:
        problems.add(WrongAnswer, f"{outcome.unparsable_responses} response(s) the client cannot parse")
    if outcome.ok:
        return
    if outcome.code in _BROKEN:
        problems.add(ServerFault, outcome.describe())
    if outcome.code in _LOST or (outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED and not deadline_ok):
        problems.add(CallLost, outcome.describe())
    if outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED and deadline_ok:
        return  # ended by the client's own deadline: no server status to inspect
    if outcome.metadata_bytes > MAX_METADATA_BYTES:
        problems.add(OversizedError, f"{outcome.metadata_bytes} bytes of metadata: {outcome.describe()}")
    elif len(outcome.message) > MAX_MESSAGE_CHARS or any(
        len(value) > MAX_INFO_VALUE_CHARS for info in outcome.infos for value in info.metadata.values()
    ):
        problems.add(OversizedError, f"error echoes too much: {outcome.describe()}")
    if len(outcome.infos) != 1:
        problems.add(MissingErrorInfo, f"{len(outcome.infos)} ErrorInfo: {outcome.describe()}")
    elif outcome.infos[0].domain != "drive" or not _REASON.fullmatch(outcome.infos[0].reason):
        info = outcome.infos[0]
        problems.add(MissingErrorInfo, f"ErrorInfo domain={info.domain!r} reason={info.reason!r}")


def check_malformed(problems: Problems, outcome: Outcome) -> None:
    """A request that does not parse: INVALID_ARGUMENT, reason MALFORMED_REQUEST (issue 9, item 2)."""
    if outcome.code != grpc.StatusCode.INVALID_ARGUMENT or outcome.reason != "MALFORMED_REQUEST":
        problems.add(WrongAnswer, f"expected INVALID_ARGUMENT MALFORMED_REQUEST, got {outcome.describe()}")


def check_no_marker(problems: Problems, outcome: Outcome, marker: str) -> None:
    """Nothing of the victim's (names, descriptions, parameters) appears in what the caller got."""
    needle = marker.encode()
    seen = [*outcome.raw_parts, outcome.message.encode()]
    seen += [value.encode() for info in outcome.infos for value in info.metadata.values()]
    if any(needle in part for part in seen):
        problems.add(Leak, f"the victim's data is in the answer: {outcome.describe()}")


class LogCapture(logging.Handler):
    """Keeps the records of the in-process server (and of grpcio) between two ``take`` calls."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


def check_logs(problems: Problems, records: list[logging.LogRecord]) -> None:
    """No record carries a traceback (an exception or a formatted one in its text)."""
    for record in records:
        text = record.getMessage()
        if record.exc_info or record.stack_info or "Traceback (most recent call last)" in text:
            problems.add(LoggedTraceback, describe_record(record))


def describe_record(record: logging.LogRecord) -> str:
    """Logger, message, exception and the innermost frame of the project (or of anything)."""
    line = f"{record.levelname} {record.name}: {_one_line(record.getMessage())}"
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        frames = traceback.extract_tb(error.__traceback__)
        ours = [frame for frame in frames if "drive_service" in frame.filename] or frames
        where = f" at {_frame(ours[-1])}" if ours else ""
        line += f" | {type(error).__name__}: {_one_line(str(error))}{where}"
    return line


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _frame(frame: traceback.FrameSummary) -> str:
    path = frame.filename
    cut = path.find("drive_service/")
    return f"{path[cut:] if cut >= 0 else path.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"


def raise_first(problems: Problems, example: str) -> None:
    """Raise the most specific kind found, with every problem and the example in its message."""
    if problems:
        kind = problems.kinds()[0]
        raise kind(f"{example}\n{problems.text()}")


def raise_first_of(failures: list[HostileFailure]) -> None:
    """Raise the most specific kind among ``failures``, listing all of them."""
    if failures:
        kind = min((type(failure) for failure in failures), key=ORDER.index)
        listed = "\n\n".join(f"({number}) {failure}" for number, failure in enumerate(failures, 1))
        raise kind(f"{len(failures)} case(s) broke an invariant:\n\n{listed}")
