"""Every RPC of every drive.v1 service, read from the generated descriptors.

The list comes from the ``*_pb2`` modules of ``generated/drive/v1``, so an RPC added to the protos
(and regenerated) is covered by every property without a change here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor

import drive.v1


@dataclass(frozen=True)
class Rpc:
    """One method: its path on the wire, message types and streaming shape."""

    service: str
    name: str
    input: Descriptor
    output: Descriptor
    client_streaming: bool
    server_streaming: bool
    package: str

    def __repr__(self) -> str:
        return self.id

    @property
    def id(self) -> str:
        """``Service.Method``: the pytest id."""
        return f"{self.service}.{self.name}"

    @property
    def path(self) -> str:
        """The HTTP/2 path, e.g. ``/drive.v1.TaskService/GetTask``."""
        return f"/{self.package}.{self.service}/{self.name}"

    @property
    def holds_call(self) -> bool:
        """Whether the request may ask the server to hold a unary call open (a ``timeout``
        Duration, as WaitTask has): such calls are made with a short deadline."""
        timeout = self.input.fields_by_name.get("timeout")
        duration = timeout.message_type if timeout is not None else None
        return duration is not None and duration.full_name == "google.protobuf.Duration"

    def request_class(self) -> Any:
        return message_factory.GetMessageClass(self.input)

    def response_class(self) -> Any:
        return message_factory.GetMessageClass(self.output)


def drive_rpcs() -> list[Rpc]:
    """All methods of all services in the ``drive.v1`` package, sorted by id."""
    found: list[Rpc] = []
    for module_info in pkgutil.iter_modules(drive.v1.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"drive.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.extend(
                Rpc(
                    service=service.name,
                    name=method.name,
                    input=method.input_type,
                    output=method.output_type,
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    package=module.DESCRIPTOR.package,
                )
                for method in service.methods
            )
    return sorted(found, key=lambda rpc: rpc.id)


RPCS = drive_rpcs()
