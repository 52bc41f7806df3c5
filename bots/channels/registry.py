"""Builds the enabled channels from settings.

Each adapter module under `bots/channels/` exposes `build(context) -> list[Channel]`
and is listed here by its config key (`channels.<name>`); the runtime asks this
registry instead of knowing any messenger. Modules import lazily, so a disabled
messenger's library is never loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from bots.channels.base import Channel, ChannelContext

#: `channels.<key>` → the adapter module that builds it.
ADAPTERS: dict[str, str] = {
    "webchat": "bots.channels.webchat",
    "telegram": "bots.channels.telegram",
    "vk": "bots.channels.vk",
    "max": "bots.channels.max",
}

Factory = Callable[[ChannelContext], list[Channel]]


def factory(key: str) -> Factory:
    """The `build` function of the adapter registered under `key`."""
    module = importlib.import_module(ADAPTERS[key])
    build: Factory = module.build
    return build


def build_channels(context: ChannelContext) -> list[Channel]:
    """Every channel whose `channels.<key>.enabled` is set, in registry order."""
    built: list[Channel] = []
    for key in ADAPTERS:
        section = getattr(context.settings.channels, key, None)
        if section is not None and section.enabled:
            built.extend(factory(key)(context))
    return built
