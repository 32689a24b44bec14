"""One production stack for the session: the handoff's production pass runs on it first, then the fault
tests (starting one takes ~2.5 min on 2 cores). It is stopped at the end, and must leave nothing running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from housing_stack.stack import Profile, Stack, StackConfig


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.ephemeral(tmp_path_factory.mktemp("stack-production"), profile=Profile.PRODUCTION)
    with Stack(config) as running:
        yield running
