"""The published datasets' identities: each contract version's name, URI, Asset and columns.

Standard library only, so that DAG files can import these constants at parse time. A breaking change
gets a new major version, a new URI and a new :class:`Contract` here; the old major stays published
beside it during a deprecation window (see :mod:`housing_contracts.consumers.lifecycle`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date

CONTRACT_NAME = "california_housing"
#: The lake every version's dataset lives in.
LAKE_ROOT = "s3://lake"
#: The folder of a dataset that holds its snapshots: ``<dataset uri>/snapshots/<snapshot id>/``.
SNAPSHOTS_DIR = "snapshots"

#: Environment variable that moves the datasets (tests, benchmarks): it names one version's location,
#: ``<prefix>/<name>/v<major>``, and the other majors are its siblings.
DATASET_URI_ENV = "HOUSING_DATASET_URI"

_VERSION_SUFFIX = re.compile(r"/v(?P<major>\d+)/?$")


@dataclass(frozen=True)
class Deprecation:
    """A major version on its way out: published until ``sunset``, replaced by ``successor_uri``."""

    sunset: date
    successor_uri: str

    def to_dict(self) -> dict[str, str]:
        """``{"sunset": "YYYY-MM-DD", "successor_uri": …}`` (what deprecated manifests carry)."""
        return {"sunset": self.sunset.isoformat(), "successor_uri": self.successor_uri}

    def text(self) -> str:
        """``deprecated: sunset 2027-03-31, successor s3://…/v2``."""
        return f"deprecated: sunset {self.sunset.isoformat()}, successor {self.successor_uri}"


@dataclass(frozen=True)
class Contract:
    """One released major of the contract: its version, columns and where its dataset lives."""

    name: str
    version: str
    feature_columns: tuple[str, ...]
    target_column: str
    deprecation: Deprecation | None = None

    @property
    def major(self) -> int:
        """The major version: part of the URI, so a breaking change never reaches old consumers."""
        return int(self.version.split(".")[0])

    @property
    def columns(self) -> tuple[str, ...]:
        """Features, then the target: the order of the Parquet files."""
        return (*self.feature_columns, self.target_column)

    @property
    def uri(self) -> str:
        """``s3://lake/<name>/v<major>``: the dataset of this major."""
        return f"{LAKE_ROOT}/{self.name}/v{self.major}"

    @property
    def asset_name(self) -> str:
        """``<name>_v<major>``: the Airflow Asset of this major's dataset."""
        return f"{self.name}_v{self.major}"

    @property
    def label(self) -> str:
        """``california_housing 1.1.0``."""
        return f"{self.name} {self.version}"

    def dataset_uri(self) -> str:
        """Where tasks read and write this major: :attr:`uri`, or its sibling under
        ``$HOUSING_DATASET_URI``."""
        moved = os.environ.get(DATASET_URI_ENV)
        if not moved:
            return self.uri
        if _VERSION_SUFFIX.search(moved) is None:
            raise ValueError(f"${DATASET_URI_ENV}={moved!r}: expected a dataset location ending in /v<major>")
        return _VERSION_SUFFIX.sub("", moved.rstrip("/")) + f"/v{self.major}"


FEATURE_COLUMNS: tuple[str, ...] = (
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
)
TARGET_COLUMN = "MedHouseVal"

#: 2.0.0's breaking change, the one place it is written: scikit-learn's CamelCase names become snake_case
#: and money is stated in US dollars (1.x counts income in $10,000s and values in $100,000s, which every
#: new consumer misread). 1.x column -> (2.0 column, factor from the 1.x unit to the 2.0 unit).
V2_FROM_V1: dict[str, tuple[str, float]] = {
    "MedInc": ("median_income", 10_000.0),
    "HouseAge": ("house_age", 1.0),
    "AveRooms": ("avg_rooms", 1.0),
    "AveBedrms": ("avg_bedrooms", 1.0),
    "Population": ("population", 1.0),
    "AveOccup": ("avg_occupancy", 1.0),
    "Latitude": ("latitude", 1.0),
    "Longitude": ("longitude", 1.0),
    "MedHouseVal": ("median_house_value", 100_000.0),
}

V2 = Contract(
    name=CONTRACT_NAME,
    version="2.0.0",
    feature_columns=tuple(V2_FROM_V1[column][0] for column in FEATURE_COLUMNS),
    target_column=V2_FROM_V1[TARGET_COLUMN][0],
)
V1 = Contract(
    name=CONTRACT_NAME,
    version="1.1.0",
    feature_columns=FEATURE_COLUMNS,
    target_column=TARGET_COLUMN,
    # The window consumers have to move to v2; the producer publishes both until then.
    deprecation=Deprecation(sunset=date(2027, 3, 31), successor_uri=V2.uri),
)
#: Every released major, oldest first.
CONTRACTS: tuple[Contract, ...] = (V1, V2)
#: The newest live major: the newest one not deprecated. What the library uses when no contract is given.
LATEST: Contract = max((c for c in CONTRACTS if c.deprecation is None), key=lambda c: c.major)

# The 1.x names, kept for 1.x code: the data team's source and the ML team's features speak 1.x.
CONTRACT_VERSION = V1.version
CONTRACT_MAJOR = V1.major
DATASET_URI = V1.uri
ASSET_NAME = V1.asset_name
COLUMNS: tuple[str, ...] = V1.columns


def dataset_uri(contract: Contract = LATEST) -> str:
    """The URI tasks read and write for ``contract`` (default: the newest live major):
    ``$HOUSING_DATASET_URI``'s sibling of its major if set, else its URI."""
    return contract.dataset_uri()


def contract_for(uri: str) -> Contract | None:
    """The contract whose dataset ``uri`` is: its name is a segment of the URI and its major the last one
    (``…/california_housing/v1``, also a test's ``…/california_housing/tests/<id>/v1``); else None."""
    found = _VERSION_SUFFIX.search(str(uri))
    if found is None:
        return None
    segments = str(uri).split("/")
    return next((c for c in CONTRACTS if c.major == int(found["major"]) and c.name in segments), None)


def contract_by_asset(asset_name: str) -> Contract | None:
    """The contract whose Airflow Asset is ``asset_name``, else None."""
    return next((c for c in CONTRACTS if c.asset_name == asset_name), None)


def contract_of(name: str, version: str) -> Contract | None:
    """The released contract ``name`` of the major of ``version`` (any minor or patch), else None."""
    major = version.split(".")[0]
    return next((c for c in CONTRACTS if c.name == name and str(c.major) == major), None)
