"""The store's exception tree: everything it raises on purpose is a ``StoreError``."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by the ``store`` package."""


class DatabaseURLError(StoreError, ValueError):
    """The database URL is malformed, names an unsupported backend or a sync driver."""


class ConnectionFailedError(StoreError):
    """The database could not be reached or refused the connection."""


class MigrationError(StoreError):
    """Bringing the schema up to date failed."""


class InvalidFieldError(StoreError, ValueError):
    """A repository was asked to change a field it does not allow to change."""
