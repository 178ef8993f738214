from catallax.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpecRequest(_message.Message):
    __slots__ = ("sequence", "timestamp_ms")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class EnvSpec(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "env_id", "slots", "observation_space", "action_space", "max_episode_steps", "economy_json", "epoch")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_SPACE_FIELD_NUMBER: _ClassVar[int]
    ACTION_SPACE_FIELD_NUMBER: _ClassVar[int]
    MAX_EPISODE_STEPS_FIELD_NUMBER: _ClassVar[int]
    ECONOMY_JSON_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    env_id: str
    slots: int
    observation_space: _common_pb2.Space
    action_space: _common_pb2.Space
    max_episode_steps: int
    economy_json: str
    epoch: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., env_id: _Optional[str] = ..., slots: _Optional[int] = ..., observation_space: _Optional[_Union[_common_pb2.Space, _Mapping]] = ..., action_space: _Optional[_Union[_common_pb2.Space, _Mapping]] = ..., max_episode_steps: _Optional[int] = ..., economy_json: _Optional[str] = ..., epoch: _Optional[bytes] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "slots", "seeds", "epoch")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    slots: _containers.RepeatedScalarFieldContainer[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    epoch: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., slots: _Optional[_Iterable[int]] = ..., seeds: _Optional[_Iterable[int]] = ..., epoch: _Optional[bytes] = ...) -> None: ...

class ResetReply(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "request_hash", "slots", "obs", "info_json")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    INFO_JSON_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    request_hash: bytes
    slots: _containers.RepeatedScalarFieldContainer[int]
    obs: _common_pb2.Tensor
    info_json: str
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., request_hash: _Optional[bytes] = ..., slots: _Optional[_Iterable[int]] = ..., obs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., info_json: _Optional[str] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "slots", "actions", "epoch")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    slots: _containers.RepeatedScalarFieldContainer[int]
    actions: _common_pb2.Tensor
    epoch: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., slots: _Optional[_Iterable[int]] = ..., actions: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., epoch: _Optional[bytes] = ...) -> None: ...

class StepReply(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "request_hash", "slots", "obs", "reward", "terminated", "truncated", "info_json")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    INFO_JSON_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    request_hash: bytes
    slots: _containers.RepeatedScalarFieldContainer[int]
    obs: _common_pb2.Tensor
    reward: _containers.RepeatedScalarFieldContainer[float]
    terminated: _containers.RepeatedScalarFieldContainer[bool]
    truncated: _containers.RepeatedScalarFieldContainer[bool]
    info_json: str
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., request_hash: _Optional[bytes] = ..., slots: _Optional[_Iterable[int]] = ..., obs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., reward: _Optional[_Iterable[float]] = ..., terminated: _Optional[_Iterable[bool]] = ..., truncated: _Optional[_Iterable[bool]] = ..., info_json: _Optional[str] = ...) -> None: ...

class ProduceRequest(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "round", "slot", "accounts", "recipes", "runs", "bundles", "world_sold", "epoch")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    RECIPES_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    WORLD_SOLD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    round: int
    slot: int
    accounts: _containers.RepeatedScalarFieldContainer[str]
    recipes: _containers.RepeatedScalarFieldContainer[int]
    runs: _containers.RepeatedScalarFieldContainer[float]
    bundles: _common_pb2.Tensor
    world_sold: _containers.RepeatedScalarFieldContainer[int]
    epoch: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., round: _Optional[int] = ..., slot: _Optional[int] = ..., accounts: _Optional[_Iterable[str]] = ..., recipes: _Optional[_Iterable[int]] = ..., runs: _Optional[_Iterable[float]] = ..., bundles: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., world_sold: _Optional[_Iterable[int]] = ..., epoch: _Optional[bytes] = ...) -> None: ...

class ProduceReply(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "request_hash", "consumed", "made", "taken", "payments", "depreciated", "world", "production", "world_debits", "welfare")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    MADE_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    DEPRECIATED_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_FIELD_NUMBER: _ClassVar[int]
    WORLD_DEBITS_FIELD_NUMBER: _ClassVar[int]
    WELFARE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    request_hash: bytes
    consumed: _common_pb2.Tensor
    made: _common_pb2.Tensor
    taken: _common_pb2.Tensor
    payments: _containers.RepeatedScalarFieldContainer[int]
    depreciated: _common_pb2.Tensor
    world: _containers.RepeatedScalarFieldContainer[int]
    production: _common_pb2.Envelope
    world_debits: _containers.RepeatedCompositeFieldContainer[_common_pb2.Envelope]
    welfare: float
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., request_hash: _Optional[bytes] = ..., consumed: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., made: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., taken: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., payments: _Optional[_Iterable[int]] = ..., depreciated: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., world: _Optional[_Iterable[int]] = ..., production: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., world_debits: _Optional[_Iterable[_Union[_common_pb2.Envelope, _Mapping]]] = ..., welfare: _Optional[float] = ...) -> None: ...
