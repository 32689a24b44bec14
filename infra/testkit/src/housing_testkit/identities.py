"""The teams' S3 identities on a test server, and private locations inside their grants."""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from housing_stack.identities import DATA_TEAM, ML_TEAM

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from housing_stack.seaweedfs import SeaweedFS

__all__ = ["DATA_TEAM", "ML_TEAM", "S3Identity", "private_uri"]


@dataclass(frozen=True)
class S3Identity:
    """One named identity (``DATA_TEAM``, ``ML_TEAM``) on a test S3 server, in the forms code takes."""

    server: SeaweedFS
    name: str

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs ``storage_options`` authenticating as this identity."""
        return self.server.storage_options_for(self.name)

    @property
    def airflow_connection(self) -> str:
        """The ``lake_s3`` Airflow connection as JSON, for ``AIRFLOW_CONN_LAKE_S3``."""
        return self.server.airflow_connection(self.name)

    @property
    def env(self) -> dict[str, str]:
        """``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``."""
        return self.server.env_for(self.name)

    def client(self) -> BaseClient:
        """A boto3 S3 client authenticating as this identity."""
        return self.server.client(self.name)


def private_uri(uri: str, label: str = "tests") -> str:
    """A fresh URI beside ``uri`` and inside the same grant: ``<parent>/<label>/<uuid>/<last segment>``.

    ``private_uri("s3://lake/california_housing/v1")`` is ``s3://lake/california_housing/tests/<uuid>/v1``,
    so each test sees only its own snapshots while every identity keeps the access it has in production.
    """
    parent, last = posixpath.split(uri.rstrip("/"))
    return f"{parent}/{label}/{uuid.uuid4().hex}/{last}"
