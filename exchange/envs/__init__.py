"""Reference environments for markets, memory goods, and exact tabular tools.

Importing this package registers with Gymnasium (idempotently: importing or reloading
it again neither warns nor fails):

=========================  ===========================================  ==============
id                         entry point                                  time limit
=========================  ===========================================  ==============
``catallax/Bandit-v0``     ``catallax.exchange.envs.bandit:BanditEnv``  one pull
``catallax/Chain-v0``      ``catallax.exchange.envs.chain:ChainEnv``    20 (TimeLimit)
``catallax/Duality-v0``    ``...duality:DualityEnv``                    10 (TimeLimit)
``catallax/TMaze-v0``      ``...tmaze:TMazeEnv``                        length + 6 (env)
``catallax/Production-v0`` ``...production:ProductionEnv``              none
=========================  ===========================================  ==============

``gym.make("catallax.exchange.envs:catallax/Chain-v0")`` imports this package on demand.
Entry points are strings, so an environment's module loads only when it is made.
"""

import gymnasium as gym

from .bandit import BanditEnv
from .chain import ChainEnv
from .duality import DualityEnv
from .errors import (
    EnvError,
    InvalidAction,
    InvalidArgument,
    InvalidModel,
    NotConverged,
    ResetNeeded,
    UnsupportedSpace,
)
from .memory import (
    MessageRegister,
    decode_action,
    decode_observation,
    encode_action,
    encode_observation,
    with_message_register,
)
from .production import Economy, ProductionEnv, default_economy, random_economy
from .tabular import (
    TabularModel,
    best_memoryless_return,
    episode_horizon,
    greedy_return,
    optimal_return,
    policy_return,
    q_star,
    transition_model,
)
from .tmaze import TMazeEnv

__all__ = [
    # environments and their registered ids
    "ENV_IDS",
    "BanditEnv",
    "ChainEnv",
    "DualityEnv",
    "TMazeEnv",
    # the wide-market production economy
    "Economy",
    "ProductionEnv",
    "default_economy",
    "random_economy",
    # memory goods
    "MessageRegister",
    "decode_action",
    "decode_observation",
    "encode_action",
    "encode_observation",
    "with_message_register",
    # exact tabular tools
    "TabularModel",
    "best_memoryless_return",
    "episode_horizon",
    "greedy_return",
    "policy_return",
    "optimal_return",
    "q_star",
    "transition_model",
    # errors
    "EnvError",
    "InvalidAction",
    "InvalidArgument",
    "InvalidModel",
    "NotConverged",
    "ResetNeeded",
    "UnsupportedSpace",
]

_PREFIX = "catallax.exchange.envs"

#: id -> (entry point, max_episode_steps for Gymnasium's TimeLimit, or None)
_REGISTRATIONS: dict[str, tuple[str, int | None]] = {
    "catallax/Bandit-v0": (f"{_PREFIX}.bandit:BanditEnv", None),
    "catallax/Chain-v0": (f"{_PREFIX}.chain:ChainEnv", 20),
    "catallax/Duality-v0": (f"{_PREFIX}.duality:DualityEnv", 10),
    "catallax/TMaze-v0": (f"{_PREFIX}.tmaze:TMazeEnv", None),
    "catallax/Production-v0": (f"{_PREFIX}.production:ProductionEnv", None),
}

#: the Gymnasium ids this package registers
ENV_IDS: tuple[str, ...] = tuple(_REGISTRATIONS)


def _register_all() -> None:
    for env_id, (entry_point, max_steps) in _REGISTRATIONS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_steps)


_register_all()
