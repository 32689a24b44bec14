"""A supervised server process: started in its own session (and process group), logged to a file,
health-checked, stopped with SIGTERM then SIGKILL, down to the last process of its session. Used for
every component of the stack and by the test fixtures.

:class:`ServerProcess` is the process; :class:`Server` is what each component (SeaweedFS, MLflow,
Airflow standalone) builds on it: launch, wait until ready, stop, and kill (a crash, for fault tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

#: The variable that names the stack a process belongs to (:attr:`ServerProcess.stack_tag`).
STACK_TAG_VARIABLE = "HOUSING_STACK"


class StackError(RuntimeError):
    """A component of the stack failed to start, answer or stop."""


def installed_executable(name: str) -> str:
    """The executable ``name`` installed beside this interpreter (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise StackError(f"{name!r} is not beside {sys.executable} nor on PATH; run make setup")
    return found


def run_as(user: str | None) -> dict[str, object]:
    """``subprocess`` arguments that run a child as ``user`` with only that user's group (root's group
    would otherwise stay, and its owner-only folders would stop the child); none for None."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


def _session_members(sid: int) -> dict[int, int]:
    """Live (non-zombie) processes of session ``sid`` -> their process group; zombies of dead parents
    don't count. A component's session holds all it spawned, also processes that made a process group of
    their own (an Airflow task does)."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the parenthesised command: state ppid pgrp session ...
        state, _ppid, pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            members[int(entry.name)] = int(pgrp)
    return members


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if no such process: with the pid it
    identifies one process even after the pid is recycled."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def ancestors(pid: int) -> set[int]:
    """``pid`` and every process above it, up to init."""
    found = set()
    while pid > 0 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def stop_processes(pids: Iterable[int], timeout: float) -> list[int]:
    """SIGTERM each of ``pids``, SIGKILL those still alive after ``timeout`` s; returns the pids that
    survived even that (none, normally). Processes are identified by pid and start time, so a pid recycled
    meanwhile is neither signalled twice nor waited for."""
    started = {pid: ticks for pid in pids if (ticks := _start_ticks(pid)) is not None}

    def alive() -> list[int]:
        return [pid for pid, ticks in started.items() if _start_ticks(pid) == ticks]

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        for pid in alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
    return alive()


@dataclass
class ServerProcess:
    """One long-running component; ``name`` is what errors and ``status`` call it."""

    name: str
    command: Sequence[str]
    log_path: Path
    pid_path: Path | None = None
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    #: What ``stop`` sends first (PostgreSQL's SIGTERM waits for every client to disconnect; SIGINT not).
    stop_signal: signal.Signals = signal.SIGTERM
    #: The system user to run as (PostgreSQL refuses to run as root); None = this process's user.
    user: str | None = None
    #: Exported to the process as ``HOUSING_STACK``: every process it spawns inherits it, so what a
    #: stack started can be found even after its session leader is gone (see ``Stack.leftovers``).
    stack_tag: str | None = None
    _popen: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        """Spawn the command in a new session (so ``stop`` can signal everything it spawned)."""
        if self.is_running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                list(self.command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.cwd,
                start_new_session=True,
                **run_as(self.user),
            )
        if self.pid_path is not None:
            self.pid_path.parent.mkdir(parents=True, exist_ok=True)
            record = {
                "pid": self._popen.pid,
                "started": _start_ticks(self._popen.pid),
                "command": list(self.command),
            }
            self.pid_path.write_text(json.dumps(record))

    def _environment(self) -> dict[str, str] | None:
        if self.stack_tag is None:
            return dict(self.env) if self.env is not None else None
        return {**(self.env if self.env is not None else os.environ), STACK_TAG_VARIABLE: self.stack_tag}

    @property
    def pid(self) -> int | None:
        """The process (and process group) id, from this object or the pid file; None if not running."""
        if self._popen is not None and self._popen.poll() is None:
            return self._popen.pid
        # ours exited, or another process started it: the pid file names the live one (the supervisor's
        # restart rewrites it)
        if self.pid_path is None or not self.pid_path.exists():
            return None
        try:
            recorded = json.loads(self.pid_path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(recorded["pid"])
        # a recycled pid belongs to someone else: only trust it if the process started when ours did
        return pid if _start_ticks(pid) == recorded.get("started") else None

    def is_running(self) -> bool:
        return self.pid is not None

    def exited_unexpectedly(self) -> bool:
        """Whether the pid file names a process that is gone: it exited or was killed by someone else
        (``stop`` and ``kill`` remove the pid file first, so a deliberate stop never counts)."""
        return self.pid_path is not None and self.pid_path.exists() and self.pid is None

    def exit_code(self) -> int | None:
        """The exit code if this object started the process and it has exited."""
        return self._popen.poll() if self._popen is not None else None

    def _forget(self) -> int | None:
        """The process group to signal; the pid file is removed first, so a supervisor watching it
        never takes the exit that follows for a crash."""
        pgid = self.pid
        if pgid is None and self._popen is not None:
            pgid = self._popen.pid  # the leader exited; its children may still run
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)
        return pgid

    def stop(self, timeout: float = 10.0) -> None:
        """``stop_signal`` (SIGTERM) to the session, SIGKILL whatever is left after ``timeout`` s."""
        pgid = self._forget()
        if (
            pgid is not None
            and not self._signal_until_gone(pgid, self.stop_signal, timeout)
            and not self._signal_until_gone(pgid, signal.SIGKILL, 10.0)
        ):
            raise StackError(f"{self.name} (session {pgid}) survived SIGKILL")
        if self._popen is not None:
            self._popen.poll()

    def kill(self) -> None:
        """SIGKILL the whole session at once, as a crash or an OOM kill would: no clean shutdown."""
        pgid = self._forget()
        if pgid is not None and not self._signal_until_gone(pgid, signal.SIGKILL, 10.0):
            raise StackError(f"{self.name} (session {pgid}) survived SIGKILL")

    def _signal_until_gone(self, sid: int, sig: signal.Signals, timeout: float) -> bool:
        """Send ``sig`` to the process group ``sid`` and to every other process of its session; True once
        no live member is left within ``timeout`` seconds."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, sig)
        for pid, group in _session_members(sid).items():
            if group != sid:  # left the group (an Airflow task): would outlive a killpg alone
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # our own leader counts until reaped: a Go process shows "Z" while its threads still exit
            leader_gone = self._popen is None or self._popen.poll() is not None
            if leader_gone and not _session_members(sid):
                return True
            time.sleep(0.1)
        return False

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 256 * lines))
                return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float, interval: float = 0.5) -> None:
        """Poll ``ready`` until true; fail fast if the process dies, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if self._popen is not None and self._popen.poll() is not None:
                raise StackError(
                    f"{self.name} exited with code {self._popen.returncode} before it was {what}; "
                    f"tail of {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} was not {what} within {timeout:.0f} s; "
                    f"tail of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(interval)


class Server:
    """One component of the stack around its :class:`ServerProcess`; a context manager (start/stop).

    Subclasses set ``name``, ``process``, ``start_timeout`` and ``stop_timeout``, implement
    :meth:`wait_ready`, and may override :meth:`prepare` (files written before each launch) and
    :meth:`after_exit` (debris removed after each stop or kill).
    """

    name: str
    process: ServerProcess
    start_timeout: float = 60.0
    stop_timeout: float = 10.0

    def prepare(self) -> None:
        """Write what the process needs before it starts (nothing by default)."""

    def after_exit(self) -> None:
        """Remove what the process leaves behind once it is gone (nothing by default)."""

    def healthy(self) -> bool:
        """Whether the component answers its health check."""
        raise NotImplementedError

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the component is ready; StackError after ``timeout`` s or if the process dies."""
        raise NotImplementedError

    def launch(self) -> None:
        """Spawn the process unless it already runs (from this object or its pid file); no waiting."""
        if self.process.is_running():
            return
        self.prepare()
        self.process.start()

    def start(self, timeout: float | None = None) -> Self:
        """Start (if not running) and wait until ready; stops it again on failure. Returns self."""
        self.launch()
        try:
            self.wait_ready(self.start_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM every process of the component, SIGKILL what is left after ``timeout`` s."""
        self.process.stop(self.stop_timeout if timeout is None else timeout)
        self.after_exit()

    def kill(self) -> None:
        """SIGKILL every process of the component at once (fault injection: a crash, not a shutdown)."""
        self.process.kill()
        self.after_exit()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
