"""The benchmark's own Airflow: housing_stack's ``airflow standalone`` launcher running bench/dags/.

A temporary home, free loopback ports and the stack's number of task slots (``AIRFLOW_PARALLELISM`` of
``.env.example``, 2), all set by :class:`~housing_stack.airflow_standalone.AirflowStandalone`; it never
touches the user's ``make up`` stack. Task runners leave the deployment's process group, so
:func:`running` also ends, on exit, any process that still carries this deployment's ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path

from housing_stack.airflow_client import AirflowClient
from housing_stack.airflow_standalone import AirflowStandalone, DeploymentPorts
from housing_stack.identities import AirflowRole, Login
from housing_stack.ports import free_ports

#: The Astro-like project the bench deployment runs: bench/dags/ (the DAG folder is ``<project>/dags``).
PROJECT_DIR = Path(__file__).resolve().parent
USER = "bench"


def bench_deployment(
    home: Path, environment: Mapping[str, str], pythonpath: list[Path] = ()
) -> AirflowStandalone:
    """A deployment of bench/dags/ in ``home``; ``pythonpath`` lists the project roots the DAGs import from.

    bench/ itself stays off ``sys.path``: its module names (``data``, ``results``) are too generic.
    """
    path = os.pathsep.join(str(p) for p in pythonpath)
    return AirflowStandalone(
        name="bench Airflow",
        home=home,
        project_dir=PROJECT_DIR,
        ports=DeploymentPorts(*free_ports(3)),
        accounts=[(Login(USER, secrets.token_urlsafe(16)), AirflowRole.ADMIN)],
        environment={"PYTHONPATH": path, **environment},
    )


#: Seconds per REST call: the API server of a loaded 2-core machine has taken more than the default 30.
REST_TIMEOUT = 90.0


def client(deployment: AirflowStandalone) -> AirflowClient:
    """A REST client logged in as the deployment's user."""
    return AirflowClient(deployment.base_url, *deployment.admin, timeout=REST_TIMEOUT)


@contextlib.contextmanager
def running(deployment: AirflowStandalone) -> Iterator[AirflowStandalone]:
    """Start the deployment, yield it, then stop it and whatever it left behind."""
    try:
        yield deployment.start()
    finally:
        try:
            deployment.stop()
        finally:
            for pid in _leftovers(deployment.home):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _leftovers(home: Path) -> list[int]:
    """Processes whose environment names ``home`` as AIRFLOW_HOME."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
