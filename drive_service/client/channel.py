"""How the client connects: TLS, message size and keepalive options, and the channel itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

MIB = 1024 * 1024
#: The server's limit: UPLOAD_MAX_CHUNK_SIZE (16 MiB by default) + 1 MiB.
DEFAULT_MAX_MESSAGE = 17 * MIB


@dataclass(frozen=True)
class ChannelOptions:
    """Transport settings of a client.

    ``tls`` turns TLS on (the system roots unless ``root_certificates`` is given);
    ``certificate_chain`` and ``private_key`` (PEM) add a client certificate for mutual TLS.
    ``server_name`` overrides the name checked in the server certificate. ``max_message_bytes``
    should match the server's (UPLOAD_MAX_CHUNK_SIZE + 1 MiB). Keepalive pings every
    ``keepalive_seconds`` (0 = off) find a dead connection under a long WatchTasks or WaitTask.
    ``connections`` > 1 spreads parallel upload streams over that many TCP connections.
    """

    tls: bool = False
    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE
    keepalive_seconds: float = 30.0
    keepalive_timeout_seconds: float = 10.0
    connections: int = 1

    @classmethod
    def from_files(
        cls,
        *,
        ca_cert: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        tls: bool = False,
        server_name: str | None = None,
    ) -> ChannelOptions:
        """Options reading PEM files; any certificate implies TLS. A client certificate needs its key."""
        if (client_cert is None) != (client_key is None):
            raise ValueError("a client certificate and its key go together")
        read = lambda path: path.read_bytes() if path is not None else None  # noqa: E731
        return cls(
            tls=tls or ca_cert is not None or client_cert is not None,
            root_certificates=read(ca_cert),
            certificate_chain=read(client_cert),
            private_key=read(client_key),
            server_name=server_name,
        )

    def grpc_options(self, private_connection: bool = False) -> list[tuple[str, int | str]]:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
        ]
        if self.keepalive_seconds > 0:
            options += [
                ("grpc.keepalive_time_ms", int(self.keepalive_seconds * 1000)),
                ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout_seconds * 1000)),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_pings_without_data", 0),
            ]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        if private_connection:
            # Channels with equal arguments share one connection through the global subchannel pool.
            options.append(("grpc.use_local_subchannel_pool", 1))
        return options


def open_channel(target: str, options: ChannelOptions, private_connection: bool = False) -> grpc.aio.Channel:
    """A new aio channel to ``target`` (``host:port``); close it with ``await channel.close()``."""
    arguments = options.grpc_options(private_connection)
    if not options.tls:
        return grpc.aio.insecure_channel(target, options=arguments)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=options.root_certificates,
        private_key=options.private_key,
        certificate_chain=options.certificate_chain,
    )
    return grpc.aio.secure_channel(target, credentials, options=arguments)
