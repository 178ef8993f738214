from catallax.v1 import common_pb2 as _common_pb2
from catallax.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Registration(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "members", "family")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    members: int
    family: str
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., members: _Optional[int] = ..., family: _Optional[str] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "accounts", "balances")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    accounts: _containers.RepeatedScalarFieldContainer[str]
    balances: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., accounts: _Optional[_Iterable[str]] = ..., balances: _Optional[_Iterable[int]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTasksReply(_message.Message):
    __slots__ = ("tasks", "exchange", "public_key")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    exchange: str
    public_key: bytes
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., exchange: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class TaskInfo(_message.Message):
    __slots__ = ("name", "market", "auction", "slots", "observation_space", "action_space", "allowance", "bid_deadline_ms", "env_id", "rules_json", "rules", "max_members", "allowance_left", "state", "rounds", "episodes", "mean_return", "sessions", "identities", "greedy_returns", "recent_round_ms", "removed", "born", "value_level", "eval_cap", "eval_capped")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MARKET_FIELD_NUMBER: _ClassVar[int]
    AUCTION_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_SPACE_FIELD_NUMBER: _ClassVar[int]
    ACTION_SPACE_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    BID_DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCE_LEFT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    MEAN_RETURN_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    GREEDY_RETURNS_FIELD_NUMBER: _ClassVar[int]
    RECENT_ROUND_MS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    BORN_FIELD_NUMBER: _ClassVar[int]
    VALUE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    EVAL_CAP_FIELD_NUMBER: _ClassVar[int]
    EVAL_CAPPED_FIELD_NUMBER: _ClassVar[int]
    name: str
    market: str
    auction: str
    slots: int
    observation_space: _common_pb2.Space
    action_space: _common_pb2.Space
    allowance: int
    bid_deadline_ms: int
    env_id: str
    rules_json: str
    rules: bytes
    max_members: int
    allowance_left: int
    state: str
    rounds: int
    episodes: int
    mean_return: float
    sessions: int
    identities: int
    greedy_returns: _containers.RepeatedScalarFieldContainer[float]
    recent_round_ms: _containers.RepeatedScalarFieldContainer[float]
    removed: int
    born: int
    value_level: int
    eval_cap: int
    eval_capped: int
    def __init__(self, name: _Optional[str] = ..., market: _Optional[str] = ..., auction: _Optional[str] = ..., slots: _Optional[int] = ..., observation_space: _Optional[_Union[_common_pb2.Space, _Mapping]] = ..., action_space: _Optional[_Union[_common_pb2.Space, _Mapping]] = ..., allowance: _Optional[int] = ..., bid_deadline_ms: _Optional[int] = ..., env_id: _Optional[str] = ..., rules_json: _Optional[str] = ..., rules: _Optional[bytes] = ..., max_members: _Optional[int] = ..., allowance_left: _Optional[int] = ..., state: _Optional[str] = ..., rounds: _Optional[int] = ..., episodes: _Optional[int] = ..., mean_return: _Optional[float] = ..., sessions: _Optional[int] = ..., identities: _Optional[int] = ..., greedy_returns: _Optional[_Iterable[float]] = ..., recent_round_ms: _Optional[_Iterable[float]] = ..., removed: _Optional[int] = ..., born: _Optional[int] = ..., value_level: _Optional[int] = ..., eval_cap: _Optional[int] = ..., eval_capped: _Optional[int] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class Bids(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "round", "bids", "rules")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    round: int
    bids: _containers.RepeatedCompositeFieldContainer[Bid]
    rules: bytes
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., round: _Optional[int] = ..., bids: _Optional[_Iterable[_Union[Bid, _Mapping]]] = ..., rules: _Optional[bytes] = ...) -> None: ...

class Bid(_message.Message):
    __slots__ = ("member", "slot", "amount", "action")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    member: int
    slot: int
    amount: int
    action: _common_pb2.Value
    def __init__(self, member: _Optional[int] = ..., slot: _Optional[int] = ..., amount: _Optional[int] = ..., action: _Optional[_Union[_common_pb2.Value, _Mapping]] = ...) -> None: ...

class Round(_message.Message):
    __slots__ = ("sequence", "timestamp_ms", "exchange", "task", "settled", "open", "round", "slots", "obs", "deadline_ms", "greedy")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    GREEDY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_ms: int
    exchange: str
    task: str
    settled: Settled
    open: bool
    round: int
    slots: _containers.RepeatedScalarFieldContainer[int]
    obs: _common_pb2.Tensor
    deadline_ms: int
    greedy: bool
    def __init__(self, sequence: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., exchange: _Optional[str] = ..., task: _Optional[str] = ..., settled: _Optional[_Union[Settled, _Mapping]] = ..., open: _Optional[bool] = ..., round: _Optional[int] = ..., slots: _Optional[_Iterable[int]] = ..., obs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., deadline_ms: _Optional[int] = ..., greedy: _Optional[bool] = ...) -> None: ...

class Settled(_message.Message):
    __slots__ = ("round", "awards", "checkpoint", "statements", "value_level")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    AWARDS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    round: int
    awards: _containers.RepeatedCompositeFieldContainer[Award]
    checkpoint: _ledger_pb2.Checkpoint
    statements: _containers.RepeatedCompositeFieldContainer[Statement]
    value_level: int
    def __init__(self, round: _Optional[int] = ..., awards: _Optional[_Iterable[_Union[Award, _Mapping]]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.Checkpoint, _Mapping]] = ..., statements: _Optional[_Iterable[_Union[Statement, _Mapping]]] = ..., value_level: _Optional[int] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("identity", "balances", "outcomes", "retired", "born")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    RETIRED_FIELD_NUMBER: _ClassVar[int]
    BORN_FIELD_NUMBER: _ClassVar[int]
    identity: bytes
    balances: _containers.RepeatedScalarFieldContainer[int]
    outcomes: Outcomes
    retired: _containers.RepeatedScalarFieldContainer[int]
    born: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, identity: _Optional[bytes] = ..., balances: _Optional[_Iterable[int]] = ..., outcomes: _Optional[_Union[Outcomes, _Mapping]] = ..., retired: _Optional[_Iterable[int]] = ..., born: _Optional[_Iterable[int]] = ...) -> None: ...

class Award(_message.Message):
    __slots__ = ("slot", "account", "price", "action")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    slot: int
    account: str
    price: int
    action: _common_pb2.Value
    def __init__(self, slot: _Optional[int] = ..., account: _Optional[str] = ..., price: _Optional[int] = ..., action: _Optional[_Union[_common_pb2.Value, _Mapping]] = ...) -> None: ...

class Outcomes(_message.Message):
    __slots__ = ("members", "obs", "actions", "price", "reward", "receipt", "ended", "provisional")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedScalarFieldContainer[int]
    obs: _common_pb2.Tensor
    actions: _common_pb2.Tensor
    price: _containers.RepeatedScalarFieldContainer[int]
    reward: _containers.RepeatedScalarFieldContainer[int]
    receipt: _containers.RepeatedScalarFieldContainer[int]
    ended: _containers.RepeatedScalarFieldContainer[bool]
    provisional: _common_pb2.BoolList
    def __init__(self, members: _Optional[_Iterable[int]] = ..., obs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., actions: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., price: _Optional[_Iterable[int]] = ..., reward: _Optional[_Iterable[int]] = ..., receipt: _Optional[_Iterable[int]] = ..., ended: _Optional[_Iterable[bool]] = ..., provisional: _Optional[_Union[_common_pb2.BoolList, _Mapping]] = ...) -> None: ...

class BalancesRequest(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accounts: _Optional[_Iterable[str]] = ...) -> None: ...

class BalancesReply(_message.Message):
    __slots__ = ("accounts", "balances", "checkpoint")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    balances: _containers.RepeatedScalarFieldContainer[int]
    checkpoint: _ledger_pb2.Checkpoint
    def __init__(self, accounts: _Optional[_Iterable[str]] = ..., balances: _Optional[_Iterable[int]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.Checkpoint, _Mapping]] = ...) -> None: ...
