from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class HelloRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("app_id", "version", "permissions", "locale", "driving_json")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    DRIVING_JSON_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    locale: str
    driving_json: str
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., locale: _Optional[str] = ..., driving_json: _Optional[str] = ...) -> None: ...

class ShowTemplateRequest(_message.Message):
    __slots__ = ("template_json",)
    TEMPLATE_JSON_FIELD_NUMBER: _ClassVar[int]
    template_json: str
    def __init__(self, template_json: _Optional[str] = ...) -> None: ...

class ShowTemplateResponse(_message.Message):
    __slots__ = ("trimmed",)
    TRIMMED_FIELD_NUMBER: _ClassVar[int]
    trimmed: bool
    def __init__(self, trimmed: _Optional[bool] = ...) -> None: ...

class NotifyRequest(_message.Message):
    __slots__ = ("title", "body", "priority")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    title: str
    body: str
    priority: str
    def __init__(self, title: _Optional[str] = ..., body: _Optional[str] = ..., priority: _Optional[str] = ...) -> None: ...

class NotifyResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RegisterMediaSessionRequest(_message.Message):
    __slots__ = ("name", "zone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    zone: str
    def __init__(self, name: _Optional[str] = ..., zone: _Optional[str] = ...) -> None: ...

class RegisterMediaSessionResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SetMediaQueueRequest(_message.Message):
    __slots__ = ("session_id", "items_json", "start", "play")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_JSON_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    PLAY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    items_json: str
    start: int
    play: bool
    def __init__(self, session_id: _Optional[str] = ..., items_json: _Optional[str] = ..., start: _Optional[int] = ..., play: _Optional[bool] = ...) -> None: ...

class SetMediaQueueResponse(_message.Message):
    __slots__ = ("state_json",)
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    state_json: str
    def __init__(self, state_json: _Optional[str] = ...) -> None: ...

class SetMediaStateRequest(_message.Message):
    __slots__ = ("session_id", "state", "index", "position")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    state: str
    index: int
    position: float
    def __init__(self, session_id: _Optional[str] = ..., state: _Optional[str] = ..., index: _Optional[int] = ..., position: _Optional[float] = ...) -> None: ...

class SetMediaStateResponse(_message.Message):
    __slots__ = ("state_json",)
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    state_json: str
    def __init__(self, state_json: _Optional[str] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Event(_message.Message):
    __slots__ = ("kind", "json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    json: str
    def __init__(self, kind: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...
