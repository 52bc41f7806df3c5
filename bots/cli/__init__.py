"""The `sovetnik` command line."""

from __future__ import annotations

from bots.cli.app import main

__all__ = ["main"]
