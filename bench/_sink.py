"""A do-nothing gRPC server: the transport floor of the upload figures.

``python -m bench._sink`` serves ``/bench.Sink/Drain`` on 127.0.0.1 (any free port, printed as
``PORT <n>`` on stdout): a client stream of UploadChunksRequest messages, each parsed and dropped,
answered with an empty message. The same messages sent here and to UploadChunks show how much of
an upload's time is Python gRPC + protobuf alone. ``/bench.Sink/Source`` is the download side: a
ReadFileRequest whose ``length`` says how many bytes, answered with ReadFileResponse messages of
1 MiB of prebuilt bytes (what ReadFile would send, without reading anything). Stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import grpc

from drive.v1 import files_pb2, uploads_pb2

METHOD = "/bench.Sink/Drain"
SOURCE_METHOD = "/bench.Sink/Source"
_BLOCK = b"\x5a" * (1024 * 1024)  # ReadFile's largest message payload
MESSAGE_LIMIT = 17 * 1024 * 1024


async def _drain(requests: AsyncIterator[uploads_pb2.UploadChunksRequest], context: object) -> bytes:
    received = 0
    async for message in requests:
        received += len(message.data)
    return b""


async def _source(
    request: files_pb2.ReadFileRequest, context: object
) -> AsyncIterator[files_pb2.ReadFileResponse]:
    offset = 0
    while offset < request.length:
        data = _BLOCK[: request.length - offset]
        yield files_pb2.ReadFileResponse(data=data, offset=offset)
        offset += len(data)


class _Handler(grpc.GenericRpcHandler):
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method == SOURCE_METHOD:
            return grpc.unary_stream_rpc_method_handler(
                _source,
                request_deserializer=files_pb2.ReadFileRequest.FromString,
                response_serializer=files_pb2.ReadFileResponse.SerializeToString,
            )
        if handler_call_details.method != METHOD:
            return None
        return grpc.stream_unary_rpc_method_handler(
            _drain,
            request_deserializer=uploads_pb2.UploadChunksRequest.FromString,
            response_serializer=lambda response: response,
        )


async def _serve() -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
        ]
    )
    server.add_generic_rpc_handlers((_Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"PORT {port}", flush=True)
    await stopping.wait()
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(_serve())
