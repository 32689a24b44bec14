"""housing-contracts: the California-housing data contract shared by producer and consumer.

The dataset constants are imported eagerly (standard library only, safe at DAG parse time); everything
else is loaded on first use, so ``import housing_contracts`` imports neither pandas, pandera nor Airflow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from housing_contracts.dataset import (
    ASSET_NAME,
    COLUMNS,
    CONTRACT_MAJOR,
    CONTRACT_NAME,
    CONTRACT_VERSION,
    CONTRACTS,
    DATASET_URI,
    DATASET_URI_ENV,
    FEATURE_COLUMNS,
    TARGET_COLUMN,
    V1,
    V2,
    Contract,
    Deprecation,
    contract_for,
    dataset_uri,
)

if TYPE_CHECKING:
    from housing_contracts.catalog import latest_snapshot, list_snapshots
    from housing_contracts.consumers import (
        ConsumerLag,
        Receipt,
        Subscription,
        consumer_lag,
        record_receipt,
        subscribe,
    )
    from housing_contracts.conversion import convert
    from housing_contracts.errors import (
        ContractError,
        ContractViolation,
        IncompatibleContractError,
        PromiseBroken,
        PublishInProgressError,
        SnapshotIntegrityError,
        SnapshotNotFoundError,
    )
    from housing_contracts.freshness import check_consumer_lag, check_freshness
    from housing_contracts.lifecycle import Retirement, RetirementRefused, retire, retirement
    from housing_contracts.manifest import Manifest
    from housing_contracts.model import CaliforniaHousing
    from housing_contracts.report import CheckFailure, ValidationReport
    from housing_contracts.snapshots import (
        PublishAll,
        PublishResult,
        RetiredError,
        Snapshot,
        publish,
        publish_all,
        read_snapshot,
    )
    from housing_contracts.validation import validate

#: public name -> module that defines it (imported on first attribute access)
_LAZY = {
    "CaliforniaHousing": "model",
    "validate": "validation",
    "ValidationReport": "report",
    "CheckFailure": "report",
    "Manifest": "manifest",
    "publish": "snapshots",
    "publish_all": "snapshots",
    "PublishResult": "snapshots",
    "PublishAll": "snapshots",
    "RetiredError": "snapshots",
    "convert": "conversion",
    "retire": "lifecycle",
    "retirement": "lifecycle",
    "Retirement": "lifecycle",
    "RetirementRefused": "lifecycle",
    "list_snapshots": "catalog",
    "latest_snapshot": "catalog",
    "read_snapshot": "snapshots",
    "Snapshot": "snapshots",
    "ContractError": "errors",
    "ContractViolation": "errors",
    "SnapshotIntegrityError": "errors",
    "IncompatibleContractError": "errors",
    "SnapshotNotFoundError": "errors",
    "PublishInProgressError": "errors",
    "PromiseBroken": "errors",
    "Subscription": "consumers",
    "Receipt": "consumers",
    "ConsumerLag": "consumers",
    "subscribe": "consumers",
    "record_receipt": "consumers",
    "consumer_lag": "consumers",
    "check_freshness": "freshness",
    "check_consumer_lag": "freshness",
}

__all__ = [
    "ASSET_NAME",
    "COLUMNS",
    "CONTRACTS",
    "CONTRACT_MAJOR",
    "CONTRACT_NAME",
    "CONTRACT_VERSION",
    "DATASET_URI",
    "DATASET_URI_ENV",
    "FEATURE_COLUMNS",
    "TARGET_COLUMN",
    "V1",
    "V2",
    "CaliforniaHousing",
    "CheckFailure",
    "ConsumerLag",
    "Contract",
    "ContractError",
    "ContractViolation",
    "Deprecation",
    "IncompatibleContractError",
    "Manifest",
    "PromiseBroken",
    "PublishAll",
    "PublishInProgressError",
    "PublishResult",
    "Receipt",
    "RetiredError",
    "Retirement",
    "RetirementRefused",
    "Snapshot",
    "SnapshotIntegrityError",
    "SnapshotNotFoundError",
    "Subscription",
    "ValidationReport",
    "check_consumer_lag",
    "check_freshness",
    "consumer_lag",
    "contract_for",
    "convert",
    "dataset_uri",
    "latest_snapshot",
    "list_snapshots",
    "publish",
    "publish_all",
    "read_snapshot",
    "record_receipt",
    "retire",
    "retirement",
    "subscribe",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'housing_contracts' has no attribute {name!r}")
    value = getattr(import_module(f"housing_contracts.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
