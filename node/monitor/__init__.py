"""Monitoring a catallax network: MQTT publishing, the monitor's view, ``ledger watch``.

- :mod:`.topics`, :mod:`.payloads`: the topics ``catallax/v1/<exchange>/...`` and their
  JSON payloads (docs/mqtt.md, docs/mqtt.schema.json);
- :mod:`.publisher`: the exchange's publisher (``catallax node exchange --mqtt``);
- :mod:`.rounds`: round summaries from ledger entries;
- :mod:`.chain`: checkpoints verified against the one before (rollbacks, split views);
- :mod:`.view`, :mod:`.follow`: what a monitor knows, fed from MQTT or gRPC;
- :mod:`.terminal`, :mod:`.web`: the live terminal view and the web page.
"""

from catallax.node.monitor.chain import Advance, CheckpointChain, describe_checkpoint
from catallax.node.monitor.follow import (
    Follower,
    follow_all,
    follow_grpc,
    follow_mqtt,
    parse_address,
)
from catallax.node.monitor.payloads import (
    VERSION,
    CheckpointMsg,
    EntryMsg,
    RoundMsg,
    Status,
    TaskStatus,
    checkpoint_payload,
    entry_payload,
    ledger_payload,
    parse_checkpoint_msg,
    parse_entry,
    parse_ledger,
    parse_round,
    parse_status,
    round_payload,
    status_payload,
)
from catallax.node.monitor.publisher import CURSOR_FILE, MqttPublisher
from catallax.node.monitor.rounds import summarise_rounds
from catallax.node.monitor.topics import PREFIX, Topic, exchange_id, parse_topic, topic
from catallax.node.monitor.view import ExchangeView, NetworkView

__all__ = [
    # topics and payloads
    "PREFIX",
    "VERSION",
    "Topic",
    "exchange_id",
    "parse_topic",
    "topic",
    "CheckpointMsg",
    "EntryMsg",
    "RoundMsg",
    "Status",
    "TaskStatus",
    "checkpoint_payload",
    "entry_payload",
    "ledger_payload",
    "parse_checkpoint_msg",
    "parse_entry",
    "parse_ledger",
    "parse_round",
    "parse_status",
    "round_payload",
    "status_payload",
    # publishing
    "CURSOR_FILE",
    "MqttPublisher",
    "summarise_rounds",
    # following and verifying
    "Advance",
    "CheckpointChain",
    "describe_checkpoint",
    "ExchangeView",
    "Follower",
    "NetworkView",
    "follow_all",
    "follow_grpc",
    "follow_mqtt",
    "parse_address",
]
