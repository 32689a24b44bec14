"""housing-contracts: the California-housing data contract shared by producer and consumer.

Four parts by role, each importing only the parts listed before it:

- :mod:`~housing_contracts.contract`: the versions, columns and rules, compatibility, conversion, ODCS;
- :mod:`~housing_contracts.lake`: storage, snapshots, manifests, claims, confirmations, retirement records;
- :mod:`~housing_contracts.consumers`: subscriptions, receipts, lag, freshness, retiring a major;
- :mod:`~housing_contracts.airflow`: the Asset, its watcher's trigger, the receipt callbacks (extra
  ``[airflow]``).

:mod:`~housing_contracts.cli` and the test kit :mod:`~housing_contracts.testing` sit on top.

The names below are the public API. The versions' constants are imported eagerly (standard library only,
safe at DAG parse time); everything else is loaded on first use, so ``import housing_contracts`` imports
neither pandas, pandera, pydantic nor Airflow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: The public API: the module that defines each name, below ``housing_contracts``.
_PUBLIC: dict[str, tuple[str, ...]] = {
    "contract.versions": (
        "ASSET_NAME",
        "COLUMNS",
        "CONTRACTS",
        "CONTRACT_MAJOR",
        "CONTRACT_NAME",
        "CONTRACT_VERSION",
        "DATASET_URI",
        "DATASET_URI_ENV",
        "FEATURE_COLUMNS",
        "LATEST",
        "TARGET_COLUMN",
        "V1",
        "V2",
        "Contract",
        "Deprecation",
        "contract_for",
        "dataset_uri",
    ),
    "contract.model": ("CaliforniaHousing",),
    "contract.validation": ("validate",),
    "contract.report": ("CheckFailure", "ValidationReport"),
    "contract.conversion": ("convert",),
    "contract.errors": (
        "ContractError",
        "ContractViolation",
        "IncompatibleContractError",
        "PromiseBroken",
        "PublishInProgressError",
        "SnapshotIntegrityError",
        "SnapshotNotFoundError",
    ),
    "lake.manifest": ("Manifest",),
    "lake.snapshots": (
        "PublishAll",
        "PublishResult",
        "RetiredError",
        "Snapshot",
        "publish",
        "publish_all",
        "read_snapshot",
    ),
    "lake.catalog": ("latest_snapshot", "list_snapshots"),
    "lake.retirement": ("Retirement", "retirement"),
    "consumers.records": ("Receipt", "Subscription", "record_receipt", "subscribe"),
    "consumers.lag": ("ConsumerLag", "consumer_lag"),
    "consumers.freshness": ("check_consumer_lag", "check_freshness"),
    "consumers.lifecycle": ("RetirementRefused", "retire"),
}
#: Standard library only: imported with the package.
_EAGER = "contract.versions"

__all__ = sorted(name for names in _PUBLIC.values() for name in names)
_LAZY = {name: module for module, names in _PUBLIC.items() if module != _EAGER for name in names}

_versions = import_module(f"housing_contracts.{_EAGER}")
globals().update({name: getattr(_versions, name) for name in _PUBLIC[_EAGER]})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'housing_contracts' has no attribute {name!r}")
    value = getattr(import_module(f"housing_contracts.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
