"""Peak RSS of each Airflow task while it runs, sampled from /proc.

Airflow 3's task runner renames its process ``airflow worker -- <task instance id>`` (``setproctitle`` in
``airflow.sdk.execution_time.task_runner.startup``), the ``id`` the REST API gives each task instance. The
sampler reads every such process's ``VmHWM`` (the kernel's peak resident set since the process started)
five times a second; the last reading before the process exits is its peak, give or take what it
allocates in its last sampling interval. The task supervisor (its parent) is not counted.

The first reading of ``VmRSS`` is the task's start: what it inherited (a forked task starts with the
libraries its deployment preloads resident) and the task runner's start-up, before the task's own code
runs (it parses the DAG file first). ``peak - start`` is then what the task itself added.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

#: The task runner's title; the LocalExecutor's own workers are ``airflow worker -- LocalExecutor: ...``.
TITLE = re.compile(rb"^airflow worker -- ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


def _status_kb(pid: str) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a process, in kB."""
    try:
        lines = (Path("/proc") / pid / "status").read_text().splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


class TaskMemory:
    """A background sampler: ``with TaskMemory() as memory: ...`` then ``memory.peaks_mb[ti_id]``."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks_kb: dict[str, int] = {}
        self.starts_kb: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-memory", daemon=True)

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            match = TITLE.match(command)
            if match is None:
                continue
            ti_id = match.group(1).decode()
            status = _status_kb(entry.name)
            if status is not None:
                self.starts_kb.setdefault(ti_id, status[0])
                self.peaks_kb[ti_id] = max(status[1], self.peaks_kb.get(ti_id, 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    @property
    def peaks_mb(self) -> dict[str, float]:
        return {ti_id: kb / 1024 for ti_id, kb in self.peaks_kb.items()}

    @property
    def added_mb(self) -> dict[str, float]:
        """Peak minus start: what each task added to what it started with."""
        return {ti_id: (kb - self.starts_kb[ti_id]) / 1024 for ti_id, kb in self.peaks_kb.items()}

    def __enter__(self) -> TaskMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
