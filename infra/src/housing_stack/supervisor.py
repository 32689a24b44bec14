"""Restart what exits on its own, as systemd or Kubernetes would: a :class:`Supervisor` watches a stack's
components (``python -m housing_stack.supervise <state_dir>`` runs one over the stack recorded in
``<state_dir>/run/stack.json``).

A component counts as exited when its pid file names a process that is gone; ``stop()`` and ``kill()``
remove the pid file first, so what the stack (or a test) stops on purpose is never restarted. A test can
also hold a component down with a hold file (``Stack.hold(name)``). Each restart is a line of
``<state_dir>/restarts.jsonl``: ``{"component": ..., "time": ...}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from housing_stack.process import Server, StackError

#: How often components are looked at.
INTERVAL = 2.0
#: The least time between two restarts of one component (one whose database is down exits at once).
BACKOFF = 5.0


@dataclass(frozen=True)
class Restart:
    """One restart the supervisor made."""

    component: str
    time: str  #: ISO 8601, UTC


def restarts_path(state_dir: Path) -> Path:
    return state_dir / "restarts.jsonl"


def hold_path(run_dir: Path, component: str) -> Path:
    """While this file exists, ``component`` is not restarted."""
    return run_dir / f"{component}.hold"


def read_restarts(state_dir: Path) -> list[Restart]:
    """Every restart recorded under ``state_dir``, oldest first."""
    path = restarts_path(state_dir)
    if not path.exists():
        return []
    return [Restart(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


class Supervisor:
    """Restarts the exited ones among ``components`` (name -> server), logging each restart."""

    def __init__(self, components: Mapping[str, Server], state_dir: Path, run_dir: Path) -> None:
        self.components = dict(components)
        self.state_dir = state_dir
        self.run_dir = run_dir
        self._last: dict[str, float] = {}

    def check(self) -> list[str]:
        """Restart (without waiting) every exited component that is not held; returns their names."""
        restarted = []
        for name, server in self.components.items():
            if hold_path(self.run_dir, name).exists() or not server.process.exited_unexpectedly():
                continue
            if time.monotonic() - self._last.get(name, -BACKOFF) < BACKOFF:
                continue
            self._last[name] = time.monotonic()
            record = Restart(name, datetime.now(UTC).isoformat())
            with restarts_path(self.state_dir).open("a") as log:
                log.write(json.dumps(asdict(record)) + "\n")
            print(f"{record.time} restarting {name}: it exited", flush=True)
            try:
                server.launch()
            except (StackError, OSError) as error:
                print(f"{record.time} restarting {name} failed: {error}", flush=True)
            restarted.append(name)
        return restarted

    def run(self) -> None:
        while True:
            self.check()
            time.sleep(INTERVAL)
