"""Fixtures: the test Redis and PostgreSQL (skipped where unreachable, failed under CI=true)."""

from tests.redis_server import redis_space  # noqa: F401
from tests.store.conftest import pg_database  # noqa: F401
