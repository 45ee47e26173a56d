from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListAxesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AxisValue(_message.Message):
    __slots__ = ("value", "definition", "source", "aliases")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    value: str
    definition: str
    source: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, value: _Optional[str] = ..., definition: _Optional[str] = ..., source: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class Axis(_message.Message):
    __slots__ = ("name", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedCompositeFieldContainer[AxisValue]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[_Union[AxisValue, _Mapping]]] = ...) -> None: ...

class ListAxesResponse(_message.Message):
    __slots__ = ("axes",)
    AXES_FIELD_NUMBER: _ClassVar[int]
    axes: _containers.RepeatedCompositeFieldContainer[Axis]
    def __init__(self, axes: _Optional[_Iterable[_Union[Axis, _Mapping]]] = ...) -> None: ...

class AxisFilter(_message.Message):
    __slots__ = ("axis", "values")
    AXIS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    axis: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, axis: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("all_of", "any_of")
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    all_of: _containers.RepeatedCompositeFieldContainer[AxisFilter]
    any_of: _containers.RepeatedCompositeFieldContainer[AxisFilter]
    def __init__(self, all_of: _Optional[_Iterable[_Union[AxisFilter, _Mapping]]] = ..., any_of: _Optional[_Iterable[_Union[AxisFilter, _Mapping]]] = ...) -> None: ...

class Values(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("name", "title", "task", "dataset", "tags", "status", "ready", "error")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Values
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Values, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    task: str
    dataset: str
    tags: _containers.MessageMap[str, Values]
    status: str
    ready: bool
    error: str
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., task: _Optional[str] = ..., dataset: _Optional[str] = ..., tags: _Optional[_Mapping[str, Values]] = ..., status: _Optional[str] = ..., ready: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ...) -> None: ...

class GetCardRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCardResponse(_message.Message):
    __slots__ = ("summary", "card_json")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    summary: ModelSummary
    card_json: str
    def __init__(self, summary: _Optional[_Union[ModelSummary, _Mapping]] = ..., card_json: _Optional[str] = ...) -> None: ...

class CoverageRequest(_message.Message):
    __slots__ = ("axes",)
    AXES_FIELD_NUMBER: _ClassVar[int]
    axes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, axes: _Optional[_Iterable[str]] = ...) -> None: ...

class CoverageRow(_message.Message):
    __slots__ = ("axis", "value", "models")
    AXIS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    axis: str
    value: str
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, axis: _Optional[str] = ..., value: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ...) -> None: ...

class CoverageResponse(_message.Message):
    __slots__ = ("models", "rows", "untagged")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[CoverageRow]
    untagged: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[CoverageRow, _Mapping]]] = ..., untagged: _Optional[_Iterable[str]] = ...) -> None: ...
