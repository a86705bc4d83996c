"""Plausible values for well-known field names, so that a hostile value next to them is judged.

A request whose every field is hostile is refused at its first check; one whose other fields are
plausible (a real task id of the caller, a valid content type, a chunk-sized payload …) reaches
the check of the hostile field. Hints go by field name, whatever the message, so they also serve
RPCs added later. The first value of each entry is the one deterministic cases use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from drive.v1 import task_enums_pb2
from tests.hostile.spec import Msg, Ref, Rep
from tests.hostile.values import NOW_SECONDS, duration, timestamp

_T = task_enums_pb2.TaskType
NO_ID = "abcdefghijklmnopqrstu"  # well-formed (21 URL-safe characters), names nothing

#: Resource ids the world (world.py) resolves: the calling account's (made on demand for the
#: example), the victim's (made once per server), and one that names nothing.
TASK_IDS = (
    Ref("own.task"), Ref("own.upload"), Ref("own.file_task"), Ref("victim.task"), Ref("victim.done_task"),
    Ref("victim.upload"), Ref("victim.file_task"), NO_ID,
)  # fmt: skip
FILE_IDS = (Ref("own.file"), Ref("victim.file"), NO_ID)
BUNDLE_IDS = ("", Ref("own.bundle"), Ref("victim.bundle"), NO_ID)  # "" (none) first: always optional
ACCOUNT_IDS = (Ref("own.account"), Ref("victim.account"), "00000000-0000-4000-8000-000000000000")
TASK_TYPES = tuple(value.number for value in _T.DESCRIPTOR.values if value.number)
TASK_STATUSES = tuple(value.number for value in task_enums_pb2.TaskStatus.DESCRIPTOR.values if value.number)
PASSWORD = "correct horse battery staple"


SMALL_FILE = Rep(b"b", 100)  # the plausible content of a one-message upload
SMALL_FILE_SHA256 = hashlib.sha256(b"b" * 100).hexdigest()


def timestamp_in(days: int) -> Msg:
    """A Timestamp ``days`` from now."""
    return timestamp(NOW_SECONDS + 86_400 * days, 0)


#: Plausible values by field name; repeated fields list whole lists.
PLAUSIBLE: Mapping[str, tuple[object, ...]] = {
    "task_id": TASK_IDS,
    "task_ids": ((Ref("own.task"),), (), (Ref("own.task"), Ref("victim.task"))),
    "file_id": FILE_IDS,
    "bundle_id": BUNDLE_IDS,
    "account_id": ACCOUNT_IDS,
    "pool_id": ("", Ref("pool")),
    "name": ("report",),
    "file_name": ("report.txt",),
    "description": ("notes",),
    "status_message": ("working",),
    "error_message": ("it failed",),
    "content_type": ("text/plain", "application/octet-stream"),
    "hash": (Ref("own.upload.sha256"), "0" * 64),
    "file_size": (100, 262_244, 1),
    "chunk_size": (0, 262_144),
    "chunk_index": (1, 0, 2),
    "data": (SMALL_FILE, Rep(b"a", 262_144)),
    "sort_by": ("name", "created", "lastActivity", "filename", "filesize"),
    "sort_descending": (True, False),
    "limit": (10, 1, 1000),
    "offset": (0, 1),
    "length": (10, 0),
    "progress": (50.0, 0.0, 100.0),
    "priority": (50, 0, 100),
    "estimated_duration_seconds": (60,),
    "after_sequence": (0,),
    "type": (_T.TASK_TYPE_CUSTOM, *TASK_TYPES),
    "types": ((_T.TASK_TYPE_CUSTOM,), TASK_TYPES),
    "status": TASK_STATUSES,
    "parameters": ({"note": "x"}, {}),
    "results": ({"note": "x"}, {}),
    "password": (PASSWORD,),
    "encrypt_password": ("", PASSWORD),
    "request_id": ("", "request-1"),
    "quota_bytes": (2**30, 2**63 - 1),
    "expired_at": (timestamp_in(30), timestamp_in(1)),
    "max_age": (duration(86_400, 0),),
    "timeout": (duration(0, 100_000_000),),
}
#: Where a service needs another first value: upload RPCs act on upload tasks.
SERVICE_PLAUSIBLE: Mapping[str, Mapping[str, object]] = {
    "UploadService": {"task_id": Ref("own.upload"), "hash": SMALL_FILE_SHA256, "file_size": 100},
}


def first_plausible(service: str, name: str) -> tuple[bool, object]:
    """(known, value): the deterministic plausible value of field ``name`` in ``service``."""
    override = SERVICE_PLAUSIBLE.get(service, {})
    if name in override:
        return True, override[name]
    if name in PLAUSIBLE:
        return True, PLAUSIBLE[name][0]
    return False, None


#: Parameter keys of the built-in task handlers (DESIGN §5).
PARAMETER_KEYS = (
    "fileIds", "fileId", "targetPoolId", "targetBundleId", "compressionFormat", "compressionLevel",
    "outputFileName", "password", "operationType", "targetIds", "operationParameters", "expiredAt",
    "sourcePoolId", "targetFormat", "quality",
)  # fmt: skip
#: Task types run by the built-in worker handlers.
HANDLED_TYPES = tuple(
    value.number
    for value in _T.DESCRIPTOR.values
    if value.name not in {"TASK_TYPE_UNSPECIFIED", "TASK_TYPE_FILE_UPLOAD", "TASK_TYPE_CUSTOM"}
)
_OWN_FILES = [Ref("own.file")]
#: Valid-looking parameters per handled type: what a focused example starts from.
HANDLER_PARAMETERS: Mapping[int, dict[str, object]] = {
    _T.TASK_TYPE_FILE_MOVE: {
        "fileIds": _OWN_FILES,
        "targetPoolId": Ref("pool"),
        "targetBundleId": Ref("own.bundle"),
    },
    _T.TASK_TYPE_FILE_COMPRESS: {
        "fileIds": _OWN_FILES,
        "compressionFormat": "zip",
        "compressionLevel": 6,
        "outputFileName": "a.zip",
    },
    _T.TASK_TYPE_FILE_DECOMPRESS: {"fileId": Ref("own.file"), "targetBundleId": Ref("own.bundle")},
    _T.TASK_TYPE_FILE_ENCRYPT: {"fileIds": _OWN_FILES, "password": PASSWORD},
    _T.TASK_TYPE_FILE_DECRYPT: {"fileIds": _OWN_FILES, "password": PASSWORD},
    _T.TASK_TYPE_BULK_OPERATION: {
        "operationType": "setExpiry",
        "targetIds": _OWN_FILES,
        "operationParameters": {"expiredAt": "2100-01-01T00:00:00+00:00", "targetPoolId": Ref("pool")},
    },
    _T.TASK_TYPE_STORAGE_MIGRATION: {"sourcePoolId": Ref("pool"), "targetPoolId": Ref("pool")},
    _T.TASK_TYPE_FILE_CONVERSION: {"fileId": Ref("own.file"), "targetFormat": "png", "quality": 80},
}
#: Times a handler parses: beyond datetime's range once converted to UTC, the epoch, naive, junk.
TIMES = (
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999+00:00",
    "1970-01-01T00:00:00Z", "2100-01-01T00:00:00", "not a time",
)  # fmt: skip
#: Other values a handler parameter may get.
PARAMETER_VALUES = (
    *FILE_IDS, [Ref("victim.file")], [*FILE_IDS], Ref("pool"), Ref("own.bundle"), Ref("victim.bundle"),
    "zip", "tar.gz", "delete", "move", "setExpiry", "png", 9, *TIMES,
)  # fmt: skip
