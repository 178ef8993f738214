"""Errors raised by ``catallax.node``: the command line, and (later) the servers and clients.

One root, specific subclasses; where one fits, a class also derives from the built-in
exception a caller would naturally catch::

    NodeError                  root of everything catallax.node raises
    ├── OptionError            a command-line option or environment id that cannot be used;
    │                          one-line message (also a ValueError)
    ├── CliError               bad input a command found after parsing (exit status 2)
    ├── KeyFileError           a key file is missing, unreadable, not PEM, not Ed25519, or
    │                          would be overwritten (also an OSError); ``catallax.node.keys``
    ├── TrustFileError         a pin file or a kept checkpoint file is missing, unreadable or
    │                          malformed (also an OSError); ``catallax.node.trust``
    ├── NotTrusted             a ledger fails a trust check: not the trusted key or origin,
    │                          or it does not extend a kept checkpoint (a rollback, a fork);
    │                          the command line prints ``FAILED ledger: ...``, exit status 1
    │   ├── BadRemoteLedger    what a Ledger server sent does not verify
    │   └── CheckpointAlarm    a checkpoint that does not extend one seen before
    │       │                  (``.first``, ``.second``: both notes); ``catallax.node.monitor``
    │       ├── Rollback       a smaller tree than one seen before
    │       └── SplitView      the same size with another root, or no consistency proof
    │                          from the earlier tree to the later one
    ├── CallFailed             a call to a server was refused or failed (``.code``: its
    │                          gRPC status); ``catallax.node.ledger_client``
    └── WireError              a message from the network is refused; ``catallax.node.wire``
        ├── Malformed          a message does not parse or breaks a rule of the protocol
        │   │                  (also a ValueError)
        │   ├── BadPayload     an MQTT message that is not what its topic says
        │   ├── BadTensor      a tensor's dtype, shape or data do not agree
        │   ├── UnknownSlot    an episode slot the node does not have, or named twice
        │   └── OutsideSpace   an action outside the action space
        ├── Unconvertible      a library value has no wire form: an unsupported space or
        │                      dtype (also a TypeError)
        ├── WrongMessage       an envelope names another message than the one expected
        ├── BadSignature       a signature does not verify for the bytes and key received
        │   └── MissingSignature  an envelope has no signature (never a skipped check)
        ├── Replayed           a sequence number not above the signer's last one
        ├── Stale              a timestamp outside the receiver's window
        ├── StaleEpoch         a request for an earlier run of the environment node
        ├── UnknownSigner      a well-signed request from a key the node does not serve
        ├── SlotEnded          a Step in a slot whose episode ended and was not Reset
        ├── Unanswered         a reply that does not answer the request sent (a client's
        │                      check: another signer, another request hash)
        ├── SequenceFileError  the sequence book's file cannot be opened or is not one
        │                      (also an OSError)
        └── the exchange's refusals (``catallax.node.exchange``)
            ├── UnknownTask        no task of that name on this exchange
            ├── NotRegistered      a key that has not registered on the task
            ├── NotYourMember      a bid for a member the signer does not have
            ├── WrongPlace         a body bound to another exchange or task
            │                      (also a Malformed)
            ├── FutureRound        a bid for a round that is not open yet
            ├── RulesChanged       bids accepting other rules than the task's now
            ├── DuplicateBids      a second Bids for one round
            ├── HelloMissing       a Trade stream that does not begin with Hello
            │                      (also a WrongMessage)
            ├── BudgetExhausted    the task's allowance budget cannot endow a newcomer
            ├── Superseded         a session replaced by a newer one of the same identity
            ├── TaskPaused         the task cannot serve now (its environment node is
            │                      unreachable, say); try again
            └── the wide market's refusals (``catallax.node.exchange.wide``)
                ├── UnknownGood        a valuation naming a good the task does not have
                │                      (also a Malformed)
                ├── OverBudget         orders whose budgets exceed the member's balance
                ├── NotAnEconomy       Produce on an environment that is no production
                │                      economy
                ├── Uncertified        a clearing whose certificate fails: not settled
                ├── ForgedProduction   an environment's production report that makes
                │                      goods from nothing (or breaks its recipes)
                ├── LateDemand         a Demand after its price proposal's deadline
                └── StalePrices        a Demand for another price vector than the
                                       current proposal's

The command line prints these (all but ``NotTrusted``) as one line,
``catallax: error: <what>``, with exit status 2. The network layer maps each class to a
gRPC status code (``catallax.node.env.server.STATUS``) and sends ``<Class>: <what>`` as
the details; its clients map them back to these classes, so that a caller catches the
same class locally and over the wire.
"""

from __future__ import annotations

__all__ = [
    "BudgetExhausted",
    "CliError",
    "DuplicateBids",
    "FutureRound",
    "HelloMissing",
    "KeyFileError",
    "NotRegistered",
    "NotYourMember",
    "RulesChanged",
    "Superseded",
    "TaskPaused",
    "UnknownTask",
    "WrongPlace",
    "UnknownGood",
    "OverBudget",
    "NotAnEconomy",
    "Uncertified",
    "ForgedProduction",
    "NodeError",
    "NotTrusted",
    "BadRemoteLedger",
    "CallFailed",
    "OptionError",
    "TrustFileError",
    # the wire
    "BadSignature",
    "BadTensor",
    "Malformed",
    "MissingSignature",
    "Replayed",
    "SequenceFileError",
    "Stale",
    "StaleEpoch",
    "Unconvertible",
    "WireError",
    "WrongMessage",
    # the environment node
    "OutsideSpace",
    "SlotEnded",
    "Unanswered",
    "UnknownSigner",
    "UnknownSlot",
]


class NodeError(Exception):
    """Root of the errors raised by :mod:`catallax.node`."""


class OptionError(NodeError, ValueError):
    """A command-line option or environment id that cannot be used; one-line message."""


class CliError(NodeError):
    """Bad input found by a command after parsing; printed as one line, exit status 2."""


class KeyFileError(NodeError, OSError):
    """A key file is missing, unreadable, not PEM, or does not hold an Ed25519 key; or
    writing one would replace an existing file. The message starts with the path."""


class TrustFileError(NodeError, OSError):
    """A pin file or a kept checkpoint file is missing, unreadable or malformed, or a new
    pin cannot be written. The message starts with the path."""


class CallFailed(NodeError):
    """A call to a server was refused or failed; ``code`` is its ``grpc.StatusCode``."""

    def __init__(self, message: str, *, code: object) -> None:
        super().__init__(message)
        self.code = code


class NotTrusted(NodeError):
    """A ledger fails a trust check: it is signed by another key than the trusted one,
    names another origin than the pinned one, or does not extend a kept checkpoint (it
    was rolled back, or forked). Not bad input: the ledger is what fails."""


class BadRemoteLedger(NotTrusted):
    """What a Ledger server sent does not verify (the message says what)."""


class CheckpointAlarm(NotTrusted):
    """A checkpoint that does not extend an earlier one of the same log; both are named.

    ``first`` and ``second`` are the two signed notes, in the order they were seen."""

    def __init__(self, message: str, *, first: str = "", second: str = "") -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class Rollback(CheckpointAlarm):
    """A later checkpoint of a smaller tree than one seen before."""


class SplitView(CheckpointAlarm):
    """Two checkpoints that no append-only log can both have signed: the same size with
    different roots, or a later tree the earlier one is not consistent with."""


class WireError(NodeError):
    """A message from the network is refused (:mod:`catallax.node.wire`)."""


class Malformed(WireError, ValueError):
    """A message does not parse, or breaks a rule of the protocol (a missing field,
    lists of different lengths, a negative amount...)."""


class BadPayload(Malformed):
    """An MQTT message whose payload is not what its topic says (docs/mqtt.md)."""


class BadTensor(Malformed):
    """A tensor's dtype is not one of the protocol's, or its shape and data disagree."""


class Unconvertible(WireError, TypeError):
    """A library value has no wire form (an unsupported space, dtype or value type)."""


class WrongMessage(WireError):
    """An envelope names another message than the one the receiver expects."""


class BadSignature(WireError):
    """An envelope's signature does not verify for the bytes and the key received."""


class MissingSignature(BadSignature):
    """An envelope carries no signature: an error, never a skipped check."""


class Replayed(WireError):
    """A body's sequence number is not above the last one seen from its signer."""


class Stale(WireError):
    """A body's timestamp lies outside the receiver's window around its clock."""


class StaleEpoch(WireError):
    """A request for an earlier run of the environment node (it restarted since the
    caller read its ``Spec``): refused, whatever its sequence; read the ``Spec`` again."""


class SequenceFileError(WireError, OSError):
    """The sequence book's file cannot be opened, or is not a sequence book."""


class UnknownSigner(WireError):
    """A request whose signature verifies, from a key that is not in the node's allow-list."""


class UnknownSlot(Malformed):
    """A request names an episode slot the environment node does not have, or one twice."""


class OutsideSpace(Malformed):
    """An action that is not in the environment's action space."""


class SlotEnded(WireError):
    """A Step in a slot whose episode terminated or truncated (or never began) and has not
    been Reset since: episodes never reset by themselves."""


class Unanswered(WireError):
    """A reply that does not answer the request sent: signed by another key than the
    node's, or carrying the hash of another request body."""


# --- the exchange's refusals ------------------------------------------------------------


class UnknownTask(WireError):
    """No task of that name runs on this exchange."""


class NotRegistered(WireError):
    """A key that has not registered on the task (register first)."""


class NotYourMember(WireError):
    """A bid for a member the signing identity does not have."""


class WrongPlace(Malformed):
    """A signed body bound to another exchange or another task than where it arrived."""


class FutureRound(WireError):
    """A bid for a round that is not open yet."""


class RulesChanged(WireError):
    """Bids accepting other rules than the task's current ones (read ListTasks again)."""


class DuplicateBids(WireError):
    """A second Bids message for a round already bid in."""


class HelloMissing(WrongMessage):
    """A Trade stream whose first message is not a Hello (a session begins with one)."""


class BudgetExhausted(WireError):
    """The task's allowance budget cannot endow another newcomer."""


class Superseded(WireError):
    """A session replaced by a newer session of the same identity on the same task."""


class TaskPaused(WireError):
    """The task cannot serve now (for example its environment node is unreachable)."""


class UnknownGood(Malformed):
    """A valuation naming a good the task does not trade."""


class OverBudget(WireError):
    """Orders whose budgets for a member add up to more than the member holds."""


class NotAnEconomy(WireError):
    """``Produce`` on an environment node whose environment is no production economy."""


class Uncertified(WireError):
    """A clearing whose equilibrium certificate fails: the exchange does not settle it."""


class ForgedProduction(WireError):
    """A production report that makes goods from nothing or breaks the recipes."""


class LateDemand(WireError):
    """A ``Demand`` answering a price proposal whose deadline has passed (interactive
    wide clearing): it is not counted, and the session ends."""


class StalePrices(WireError):
    """A ``Demand`` for a price vector that is not the current proposal's (its digest
    names an earlier query, or none the exchange proposed)."""
