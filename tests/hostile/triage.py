"""Group a triage catalog (DRIVE_HOSTILE_CATALOG) by root cause: ``python -m tests.hostile.triage FILE``.

A failing example's cause is the innermost project frame of the traceback the server logged, when
it logged one; otherwise the broken invariant with the status code and reason. For each cause the
report gives the number of examples, the RPCs and databases, and the shortest example.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

_LINE = re.compile(r"\[(\w+)\] (.*)")
_TRACEBACK = re.compile(r"\| (\w+): .*? at (\S+?):\d+ (\S+)$")
_CODE = re.compile(r"^(?:\d+ \w+ ?\w*: )?([A-Z_]+)(?: reason=(\w+))?")


@dataclass
class Cause:
    """Every example that shares one cause."""

    examples: list[str] = field(default_factory=list)
    rpcs: set[str] = field(default_factory=set)
    backends: set[str] = field(default_factory=set)
    answers: set[str] = field(default_factory=set)


def cause_of(kind: str, text: str) -> str:
    """The grouping key of one problem line."""
    traceback = _TRACEBACK.search(text)
    if kind == "LoggedTraceback" and traceback:
        error, where, function = traceback.groups()
        return f"{error} in {where} {function}"
    if kind == "LoggedTraceback":
        return f"traceback: {text[:120]}"
    code = _CODE.search(text.split(": ", 1)[-1]) if kind != "StoredOnRefusal" else None
    answer = " ".join(part for part in code.groups() if part) if code else ""
    return f"{kind}: {answer or text[:120]}"


def triage(lines: list[str]) -> dict[str, Cause]:
    causes: dict[str, Cause] = defaultdict(Cause)
    for line in lines:
        entry = json.loads(line)
        example, backend = entry["example"], entry["backend"]
        rpc = example.split(" on ", 1)[0].split(" task:", 1)[0]
        problems = [match.groups() for match in map(_LINE.match, entry["problems"].splitlines()) if match]
        keys = {cause_of(kind, text) for kind, text in problems if kind == "LoggedTraceback"}
        if not keys:  # no traceback: the invariants broken are the cause
            keys = {cause_of(kind, text) for kind, text in problems}
        answers = {text[:160] for kind, text in problems if kind != "LoggedTraceback"}
        for key in keys:
            cause = causes[key]
            cause.examples.append(example)
            cause.rpcs.add(rpc)
            cause.backends.add(backend)
            cause.answers.update(answers)
    return causes


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as catalog:
        causes = triage(catalog.readlines())
    for key, cause in sorted(causes.items(), key=lambda item: -len(item[1].examples)):
        print(f"{len(cause.examples):5d}  {key}")
        print(f"       databases: {', '.join(sorted(cause.backends))}")
        print(f"       rpcs: {', '.join(sorted(cause.rpcs))}")
        for answer in sorted(cause.answers)[:3]:
            print(f"       answer: {answer}")
        print(f"       shortest: {min(cause.examples, key=len)[:400]}")


if __name__ == "__main__":
    main()
