"""Fixtures: the test Redis (skipped where unreachable, failed under CI=true)."""

from tests.redis_server import redis_space  # noqa: F401
