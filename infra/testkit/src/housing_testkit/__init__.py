"""Test kit of the housing-handoff projects (``housing-testkit``, not shipped in any image).

- :mod:`housing_testkit.plugin`, the pytest plugin (``pytest_plugins = ["housing_testkit.plugin"]``):
  real SeaweedFS and MLflow servers on free 127.0.0.1 ports, private lake locations, the teams' S3
  identities, the real dataset, ``task_hooks`` and the reliability summary table.
- :class:`DagIntegrity` (:mod:`housing_testkit.dag_integrity`): the DAG-integrity check every team
  subclasses; :func:`dag_bag` for a team's own checks on its parsed DAGs.
- :class:`S3Identity`, :data:`DATA_TEAM`, :data:`ML_TEAM`, :func:`private_uri`: an identity on a server
  a test starts itself, and a fresh location inside a production grant.
- :func:`write_v1_consumer`: the DAG file of a v1 consumer beside the ML team's, from the ML team's own
  DAG factory.
- :func:`imports_of`: which test modules import a package (a team's tests must not import housing_stack);
  :func:`package_imports` and :func:`import_cycle`: a package's imports between its own modules.

Tests that run servers of their own get the building blocks here too (:class:`SeaweedFS`,
:class:`ServerProcess`, :func:`free_ports`), so no test imports ``housing_stack``.
"""

from __future__ import annotations

from housing_stack.ports import free_ports
from housing_stack.process import ServerProcess
from housing_stack.seaweedfs import SeaweedFS
from housing_testkit.consumers import V1_CONSUMER_DAG, write_v1_consumer
from housing_testkit.dag_integrity import HEAVY_MODULES, DagIntegrity, dag_bag
from housing_testkit.identities import DATA_TEAM, ML_TEAM, S3Identity, private_uri
from housing_testkit.isolation import import_cycle, imports_of, package_imports

__all__ = [
    "DATA_TEAM",
    "HEAVY_MODULES",
    "ML_TEAM",
    "V1_CONSUMER_DAG",
    "DagIntegrity",
    "S3Identity",
    "SeaweedFS",
    "ServerProcess",
    "dag_bag",
    "free_ports",
    "import_cycle",
    "imports_of",
    "package_imports",
    "private_uri",
    "write_v1_consumer",
]
