from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PushWebSocketPacketRequest(_message.Message):
    __slots__ = ("user_id", "packet")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PACKET_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    packet: WebSocketPacket
    def __init__(self, user_id: _Optional[str] = ..., packet: _Optional[_Union[WebSocketPacket, _Mapping]] = ...) -> None: ...

class WebSocketPacket(_message.Message):
    __slots__ = ("type", "data", "error_message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    data: bytes
    error_message: _wrappers_pb2.StringValue
    def __init__(self, type: _Optional[str] = ..., data: _Optional[bytes] = ..., error_message: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ...) -> None: ...

class SendPushNotificationToUserRequest(_message.Message):
    __slots__ = ("user_id", "notification")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    notification: PushNotification
    def __init__(self, user_id: _Optional[str] = ..., notification: _Optional[_Union[PushNotification, _Mapping]] = ...) -> None: ...

class PushNotification(_message.Message):
    __slots__ = ("topic", "title", "subtitle", "body", "meta", "action_uri", "is_silent", "is_savable")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUBTITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    ACTION_URI_FIELD_NUMBER: _ClassVar[int]
    IS_SILENT_FIELD_NUMBER: _ClassVar[int]
    IS_SAVABLE_FIELD_NUMBER: _ClassVar[int]
    topic: str
    title: str
    subtitle: str
    body: str
    meta: bytes
    action_uri: str
    is_silent: bool
    is_savable: bool
    def __init__(self, topic: _Optional[str] = ..., title: _Optional[str] = ..., subtitle: _Optional[str] = ..., body: _Optional[str] = ..., meta: _Optional[bytes] = ..., action_uri: _Optional[str] = ..., is_silent: _Optional[bool] = ..., is_savable: _Optional[bool] = ...) -> None: ...
