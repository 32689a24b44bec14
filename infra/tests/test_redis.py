"""The production profile's Celery broker: a real redis-server on a free port, with a password."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from housing_stack.ports import free_ports, port_is_free
from housing_stack.redis_server import RedisServer


def test_serves_with_a_password_on_loopback_and_stops(tmp_path: Path) -> None:
    """PING answers with the password only; the URL names the database; stop frees the port."""
    server = RedisServer(tmp_path / "redis", free_ports(1)[0], "s3cret", pid_path=tmp_path / "redis.pid")
    with server:
        assert redis.Redis.from_url(server.url(1)).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port).ping()
        assert server.url(1).endswith(f"127.0.0.1:{server.port}/1")
        assert "s3cret" not in " ".join(server.process.command)
    assert not server.healthy() and port_is_free(server.port)
