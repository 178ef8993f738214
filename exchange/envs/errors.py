"""Errors raised by the reference environments, the memory wrapper and the tabular tools.

One root, specific subclasses; each also derives from the built-in exception a caller
would naturally catch (a bad argument is a ``ValueError``, a bad call order a
``RuntimeError``)::

    EnvError
    ├── InvalidArgument (ValueError)    a constructor or function argument out of range
    ├── InvalidAction (ValueError)      an action outside the environment's action space
    ├── InvalidModel (ValueError)       a transition table that is not a probability model,
    │                                   or an environment that exposes none
    ├── UnsupportedSpace (TypeError)    a space the memory wrapper cannot extend
    ├── ResetNeeded (RuntimeError)      ``step`` before ``reset`` or after the episode ended
    └── NotConverged (RuntimeError)     value iteration did not reach its tolerance
"""

__all__ = [
    "EnvError",
    "InvalidAction",
    "InvalidArgument",
    "InvalidModel",
    "NotConverged",
    "ResetNeeded",
    "UnsupportedSpace",
]


class EnvError(Exception):
    """Root of every error raised by ``catallax.exchange.envs``."""


class InvalidArgument(EnvError, ValueError):
    """A constructor or function argument is out of range (the message names it)."""


class InvalidAction(EnvError, ValueError):
    """An action is not an element of the environment's action space."""


class InvalidModel(EnvError, ValueError):
    """A transition table is not a probability model, or the environment has none."""


class UnsupportedSpace(EnvError, TypeError):
    """The memory wrapper cannot extend this observation or action space."""


class ResetNeeded(EnvError, RuntimeError):
    """``step`` was called before ``reset`` or after the episode had ended."""


class NotConverged(EnvError, RuntimeError):
    """Value iteration stopped at ``max_iter`` without reaching its tolerance."""
