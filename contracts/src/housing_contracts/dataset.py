"""The published dataset's identity: name, version, URI and columns.

Standard library only, so that DAG files can import these constants at parse time.
"""

from __future__ import annotations

import os

CONTRACT_NAME = "california_housing"
CONTRACT_VERSION = "1.1.0"
#: The major version is part of the URI: a breaking change gets a new URI, so v1 consumers never break.
CONTRACT_MAJOR = int(CONTRACT_VERSION.split(".")[0])

DATASET_URI = f"s3://lake/{CONTRACT_NAME}/v{CONTRACT_MAJOR}"
ASSET_NAME = f"{CONTRACT_NAME}_v{CONTRACT_MAJOR}"

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
COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, TARGET_COLUMN)

#: Environment variable that points tasks at another location of the same dataset (tests, benchmarks).
DATASET_URI_ENV = "HOUSING_DATASET_URI"


def dataset_uri() -> str:
    """The URI tasks read and write: ``$HOUSING_DATASET_URI`` if set, else :data:`DATASET_URI`."""
    return os.environ.get(DATASET_URI_ENV) or DATASET_URI
