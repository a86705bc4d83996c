"""What every client call shares: target, token, channels, stubs and learned server abilities."""

from __future__ import annotations

import grpc

from drive.v1 import files_pb2_grpc, tasks_pb2_grpc, uploads_pb2_grpc
from drive_service.client.channel import ChannelOptions, open_channel
from drive_service.client.token import account_of


class Connection:
    """Channels to one server for one account (the token's ``sub``).

    ``channels[0]`` carries every call; with ``options.connections`` > 1 the extra channels (each
    its own TCP connection) carry parallel upload streams too. ``accepts_empty_hash`` is what the
    client learned by trying: whether CreateUploadTask takes an empty hash (given at completion).
    """

    def __init__(self, target: str, token: str, options: ChannelOptions | None = None) -> None:
        self.target = target
        self.options = options or ChannelOptions()
        self.account = account_of(token)
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),)
        count = max(1, self.options.connections)
        self.channels: list[grpc.aio.Channel] = [
            open_channel(target, self.options, private_connection=count > 1) for _ in range(count)
        ]
        self.uploads = [uploads_pb2_grpc.UploadServiceStub(channel) for channel in self.channels]
        self.tasks = tasks_pb2_grpc.TaskServiceStub(self.channels[0])
        self.files = files_pb2_grpc.FileServiceStub(self.channels[0])
        self.accepts_empty_hash: bool | None = None

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
