"""The Ring service over gRPC (``protos/ring/ring.proto``): the only user of the Ring stubs."""

from __future__ import annotations

import grpc

from drive_service.domain.ring import Notification, Packet
from drive_service.services.ring_sink import RingError
from ring import ring_pb2, ring_pb2_grpc

#: Failures worth trying again: Ring away, overloaded or slow, or the call lost on the way.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


class GrpcRingClient:
    """A ``RingClient`` on one plaintext channel to ``address`` (HOST:PORT).

    Every call has a deadline of ``timeout`` seconds, so a hung Ring cannot hold a sender. The
    channel reconnects at most ``reconnect_max`` seconds apart (gRPC's default grows to two
    minutes), so deliveries resume soon after Ring comes back.
    """

    def __init__(self, address: str, timeout: float, reconnect_max: float) -> None:
        self._timeout = timeout
        reconnect_ms = max(1, int(reconnect_max * 1000))
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.initial_reconnect_backoff_ms", min(1000, reconnect_ms)),
                ("grpc.max_reconnect_backoff_ms", reconnect_ms),
            ],
        )
        self._stub = ring_pb2_grpc.RingServiceStub(self._channel)

    async def push_packet(self, packet: Packet) -> None:
        """``PushWebSocketPacket``: ``data`` is the UTF-8 JSON of the event's data object."""
        request = ring_pb2.PushWebSocketPacketRequest(
            user_id=packet.user_id, packet=ring_pb2.WebSocketPacket(type=packet.type, data=packet.data)
        )
        await self._call(self._stub.PushWebSocketPacket, request)

    async def push_notification(self, notification: Notification) -> None:
        """``SendPushNotificationToUser``, saved (``is_savable``) with the event's data as ``meta``."""
        request = ring_pb2.SendPushNotificationToUserRequest(
            user_id=notification.user_id,
            notification=ring_pb2.PushNotification(
                topic=notification.topic,
                title=notification.title,
                body=notification.body,
                meta=notification.meta,
                is_savable=True,
            ),
        )
        await self._call(self._stub.SendPushNotificationToUser, request)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def _call(self, method: grpc.aio.UnaryUnaryMultiCallable, request: object) -> None:
        try:
            await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise RingError(
                f"{error.code().name}: {error.details()}", retryable=error.code() in _RETRYABLE
            ) from None
