from catallax.v1 import common_pb2 as _common_pb2
from catallax.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WideRound(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "settled", "open", "round", "supply", "world", "prices", "deadline_ms", "rules")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    settled: WideSettled
    open: bool
    round: int
    supply: _containers.RepeatedScalarFieldContainer[int]
    world: _containers.RepeatedScalarFieldContainer[int]
    prices: _containers.RepeatedScalarFieldContainer[float]
    deadline_ms: int
    rules: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., settled: _Optional[_Union[WideSettled, _Mapping]] = ..., open: _Optional[bool] = ..., round: _Optional[int] = ..., supply: _Optional[_Iterable[int]] = ..., world: _Optional[_Iterable[int]] = ..., prices: _Optional[_Iterable[float]] = ..., deadline_ms: _Optional[int] = ..., rules: _Optional[bytes] = ...) -> None: ...

class WideSettled(_message.Message):
    __slots__ = ("round", "prices", "supply", "checkpoint", "refused", "statements")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    round: int
    prices: _containers.RepeatedScalarFieldContainer[float]
    supply: _containers.RepeatedScalarFieldContainer[int]
    checkpoint: _ledger_pb2.Checkpoint
    refused: str
    statements: _containers.RepeatedCompositeFieldContainer[WideStatement]
    def __init__(self, round: _Optional[int] = ..., prices: _Optional[_Iterable[float]] = ..., supply: _Optional[_Iterable[int]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.Checkpoint, _Mapping]] = ..., refused: _Optional[str] = ..., statements: _Optional[_Iterable[_Union[WideStatement, _Mapping]]] = ...) -> None: ...

class WideStatement(_message.Message):
    __slots__ = ("identity", "bought", "produced", "removed", "rewards", "accounts", "balances")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    BOUGHT_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    identity: bytes
    bought: _common_pb2.Tensor
    produced: _common_pb2.Tensor
    removed: _common_pb2.Tensor
    rewards: _containers.RepeatedScalarFieldContainer[int]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    balances: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, identity: _Optional[bytes] = ..., bought: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., produced: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., removed: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., rewards: _Optional[_Iterable[int]] = ..., accounts: _Optional[_Iterable[str]] = ..., balances: _Optional[_Iterable[int]] = ...) -> None: ...

class Orders(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "round", "rules", "orders", "plans", "goods")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    GOODS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    round: int
    rules: bytes
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    goods: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., round: _Optional[int] = ..., rules: _Optional[bytes] = ..., orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., goods: _Optional[_Iterable[str]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("member", "valuation", "budget")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    VALUATION_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    member: int
    valuation: Valuation
    budget: int
    def __init__(self, member: _Optional[int] = ..., valuation: _Optional[_Union[Valuation, _Mapping]] = ..., budget: _Optional[int] = ...) -> None: ...

class Valuation(_message.Message):
    __slots__ = ("goods", "values", "linear", "leontief", "ces")
    GOODS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    LINEAR_FIELD_NUMBER: _ClassVar[int]
    LEONTIEF_FIELD_NUMBER: _ClassVar[int]
    CES_FIELD_NUMBER: _ClassVar[int]
    goods: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    linear: Linear
    leontief: Leontief
    ces: Ces
    def __init__(self, goods: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., linear: _Optional[_Union[Linear, _Mapping]] = ..., leontief: _Optional[_Union[Leontief, _Mapping]] = ..., ces: _Optional[_Union[Ces, _Mapping]] = ...) -> None: ...

class Linear(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Leontief(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Ces(_message.Message):
    __slots__ = ("rho",)
    RHO_FIELD_NUMBER: _ClassVar[int]
    rho: float
    def __init__(self, rho: _Optional[float] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("member", "recipe", "runs")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    member: int
    recipe: int
    runs: float
    def __init__(self, member: _Optional[int] = ..., recipe: _Optional[int] = ..., runs: _Optional[float] = ...) -> None: ...

class PriceProposal(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "round", "query", "prices", "digest", "deadline_ms", "supply", "rules")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    round: int
    query: int
    prices: _containers.RepeatedScalarFieldContainer[float]
    digest: bytes
    deadline_ms: int
    supply: _containers.RepeatedScalarFieldContainer[int]
    rules: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., round: _Optional[int] = ..., query: _Optional[int] = ..., prices: _Optional[_Iterable[float]] = ..., digest: _Optional[bytes] = ..., deadline_ms: _Optional[int] = ..., supply: _Optional[_Iterable[int]] = ..., rules: _Optional[bytes] = ...) -> None: ...

class Demand(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "round", "digest", "rules", "demands", "plans", "goods")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    DEMANDS_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    GOODS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    round: int
    digest: bytes
    rules: bytes
    demands: _containers.RepeatedCompositeFieldContainer[MemberDemand]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    goods: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., round: _Optional[int] = ..., digest: _Optional[bytes] = ..., rules: _Optional[bytes] = ..., demands: _Optional[_Iterable[_Union[MemberDemand, _Mapping]]] = ..., plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., goods: _Optional[_Iterable[str]] = ...) -> None: ...

class MemberDemand(_message.Message):
    __slots__ = ("member", "bundle", "budget")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    member: int
    bundle: _containers.RepeatedScalarFieldContainer[int]
    budget: int
    def __init__(self, member: _Optional[int] = ..., bundle: _Optional[_Iterable[int]] = ..., budget: _Optional[int] = ...) -> None: ...
