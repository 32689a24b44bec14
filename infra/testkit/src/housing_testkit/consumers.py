"""Another major's consumer beside the ML team's, as a team that keeps a v1 consumer serves it: a DAG file
that calls the ML team's own factory, ``housing_consumer(contract, dag_id=...)`` in its
``dags/housing_consumer.py``, for contract 1.x."""

from __future__ import annotations

from pathlib import Path

#: The DAG id (and file name) of the v1 consumer.
V1_CONSUMER_DAG = "housing_consumer_v1"

_V1_CONSUMER = f'''"""
### {V1_CONSUMER_DAG}: the ML team's consumer, for contract 1.x

The ML team's `housing_consumer` DAG (dags/housing_consumer.py) made for the deprecated major: its Asset,
watcher, receipts and predictions are 1.x's, its tasks the same. (Airflow parses a file only if it names
both "airflow" and "dag", as this line does.)
"""

from __future__ import annotations

from dags.housing_consumer import housing_consumer
from housing_contracts import V1

{V1_CONSUMER_DAG} = housing_consumer(V1, dag_id="{V1_CONSUMER_DAG}")
'''


def write_v1_consumer(folder: str | Path) -> Path:
    """Write the v1 consumer's DAG file into ``folder`` and return its path. Its deployment must have the
    ML team's project folder on ``sys.path`` (as Astro and the native stack do), so ``dags.housing_consumer``
    imports."""
    path = Path(folder) / f"{V1_CONSUMER_DAG}.py"
    path.write_text(_V1_CONSUMER)
    return path
