"""ServerProcess: pid files, stopping whole process groups, failing fast with the log tail."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from housing_stack.process import Server, ServerProcess, StackError, _session_members
from housing_stack.supervisor import Supervisor, hold_path, read_restarts

#: A parent that starts a child in its own process group and another that leaves the group (as an Airflow
#: task does under a Celery worker), then sleeps.
PARENT = [
    sys.executable,
    "-c",
    "import os, subprocess as s, time; s.Popen(['sleep', '300']);"
    " s.Popen(['sleep', '301'], preexec_fn=lambda: os.setpgid(0, 0)); time.sleep(300)",
]


def _process(tmp_path: Path, command: list[str] = PARENT) -> ServerProcess:
    return ServerProcess("sleeper", command, tmp_path / "sleeper.log", pid_path=tmp_path / "sleeper.pid")


def test_another_object_stops_what_the_pid_file_names(tmp_path: Path) -> None:
    """A fresh object reading the pid file (as `make down` does) stops the process and its children."""
    started = _process(tmp_path)
    started.start()
    started.wait_until(lambda: len(_session_members(started.pid or 0)) == 3, "running its children", 30)
    group = started.pid
    reader = _process(tmp_path)
    assert reader.pid == group and reader.is_running()
    reader.stop(timeout=5)
    started.wait_until(lambda: not _session_members(group or 0), "gone", 10)
    assert not (tmp_path / "sleeper.pid").exists()


def test_recycled_pid_is_not_trusted(tmp_path: Path) -> None:
    """A pid file whose process start time does not match is treated as not running (never signalled)."""
    (tmp_path / "sleeper.pid").write_text(json.dumps({"pid": 1, "started": -1, "command": ["x"]}))
    process = _process(tmp_path)
    assert process.pid is None
    process.stop()  # must not signal pid 1


def test_early_exit_fails_fast_with_the_log(tmp_path: Path) -> None:
    """A process that dies while awaited fails at once with its name, exit code and log tail."""
    process = _process(tmp_path, [sys.executable, "-c", "print('port 1234 is taken'); raise SystemExit(3)"])
    process.start()
    with pytest.raises(StackError, match=r"(?s)sleeper exited with code 3 before it was ready.*taken"):
        process.wait_until(lambda: False, "ready", timeout=60)


def test_timeout_names_what_was_awaited(tmp_path: Path) -> None:
    """A wait that times out names the component and what it waited for."""
    process = _process(tmp_path)
    process.start()
    try:
        with pytest.raises(StackError, match=r"sleeper was not answering within 1 s"):
            process.wait_until(lambda: False, "answering", timeout=1, interval=0.2)
    finally:
        process.stop(timeout=5)


class _Sleeper(Server):
    """A component that is just a sleeping process (what the supervisor sees of any server)."""

    name = "sleeper"

    def __init__(self, tmp_path: Path) -> None:
        self.process = _process(tmp_path, [sys.executable, "-c", "import time; time.sleep(300)"])

    def healthy(self) -> bool:
        return self.process.is_running()

    def wait_ready(self, timeout: float | None = None) -> None:
        self.process.wait_until(self.healthy, "running", timeout or 10)


def test_supervisor_restarts_what_exited_on_its_own(tmp_path: Path) -> None:
    """A component killed from outside (its pid file left behind) is restarted and the restart recorded;
    one stopped on purpose, or held, is not."""
    server = _Sleeper(tmp_path)
    server.start()
    supervisor = Supervisor({"sleeper": server}, tmp_path, tmp_path)
    try:
        first = server.process.pid
        os.killpg(first or 0, signal.SIGKILL)
        server.process.wait_until(lambda: server.process.exited_unexpectedly(), "dead", 10)
        hold_path(tmp_path, "sleeper").touch()  # what Stack.hold does
        assert supervisor.check() == []
        hold_path(tmp_path, "sleeper").unlink()
        assert supervisor.check() == ["sleeper"]
        assert server.process.pid not in (None, first)
        assert [r.component for r in read_restarts(tmp_path)] == ["sleeper"]
        server.stop()
        assert supervisor.check() == [] and not server.process.is_running()
    finally:
        server.stop()


def test_a_restart_by_another_object_counts_as_running(tmp_path: Path) -> None:
    """Once the process this object started died, the one the pid file names now (a supervisor's
    restart) is what it reports and stops."""
    first = _process(tmp_path, ["sleep", "300"])
    first.start()
    os.kill(first.pid or 0, signal.SIGKILL)
    first.wait_until(lambda: first.exit_code() is not None, "dead", 10)
    assert first.exited_unexpectedly()
    restarted = _process(tmp_path, ["sleep", "300"])
    restarted.start()
    assert first.pid == restarted.pid and first.is_running()
    first.stop(timeout=5)
    assert not restarted.is_running()
