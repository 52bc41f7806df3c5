"""Builds the enabled channels from settings.

A messenger is found by its config key alone: `channels.<key>` in the settings
(a field of `ChannelsSettings`) is served by the module `bots.channels.<key>`,
which exposes `build(context) -> list[Channel]`. Nothing here names a
messenger, so adding one needs no edit in this file or in the runtime (see
docs/channels.md, «Adding a messenger»). Modules import lazily, so a disabled
messenger's library is never loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from bots.channels.base import Channel, ChannelContext

PACKAGE = "bots.channels"

Factory = Callable[[ChannelContext], list[Channel]]


def channel_keys(context: ChannelContext) -> list[str]:
    """Every `channels.<key>` the settings know, in their declared order."""
    return list(type(context.settings.channels).model_fields)


def factory(key: str) -> Factory:
    """The `build` function of the adapter module for `channels.<key>`."""
    module = importlib.import_module(f"{PACKAGE}.{key}")
    build: Factory = module.build
    return build


def build_channels(context: ChannelContext) -> list[Channel]:
    """Every channel whose `channels.<key>.enabled` is set, in settings order."""
    built: list[Channel] = []
    for key in channel_keys(context):
        section = getattr(context.settings.channels, key)
        if getattr(section, "enabled", False):
            built.extend(factory(key)(context))
    return built
