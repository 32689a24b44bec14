"""SeaweedFS as the stack's S3 server: one ``weed server`` with the S3 gateway, the team identities and the
buckets ``lake`` and ``mlflow``, bound to 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from housing_stack.identities import ADMIN, Credentials, seaweedfs_config
from housing_stack.ports import free_ports, port_is_free
from housing_stack.process import Server, ServerProcess, http_status, installed_executable
from housing_stack.settings import LAKE_BUCKET, MLFLOW_BUCKET, REGION

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: SeaweedFS names unix sockets after ports (/tmp/seaweedfs-filer-grpc-<port>.sock); a stale one left by
#: a killed instance breaks a new instance on the same port (CreateBucket fails with InternalError).
SOCKET_GLOB = "seaweedfs-*-{port}.sock"
START_TIMEOUT = 60.0
#: The filer's gRPC graceful stop waits 15 s for the S3 gateway's metadata stream; written data is
#: already on disk by then, so SIGKILL follows sooner.
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port ``weed server`` listens on; the gRPC ones are explicit so none defaults to port+10000."""

    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int

    @classmethod
    def free(cls) -> SeaweedPorts:
        """Distinct ports free on 127.0.0.1 now."""
        return cls(*free_ports(len(fields(cls))))

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], s3: int | None = None) -> SeaweedPorts:
        """Ports from ``.env`` values (``S3_PORT``, ``SEAWEEDFS_*_PORT``)."""
        return cls(
            s3=s3 if s3 is not None else int(settings["S3_PORT"]),
            s3_grpc=int(settings["SEAWEEDFS_S3_GRPC_PORT"]),
            master=int(settings["SEAWEEDFS_MASTER_PORT"]),
            master_grpc=int(settings["SEAWEEDFS_MASTER_GRPC_PORT"]),
            volume=int(settings["SEAWEEDFS_VOLUME_PORT"]),
            volume_grpc=int(settings["SEAWEEDFS_VOLUME_GRPC_PORT"]),
            filer=int(settings["SEAWEEDFS_FILER_PORT"]),
            filer_grpc=int(settings["SEAWEEDFS_FILER_GRPC_PORT"]),
        )

    def __iter__(self):
        return iter(astuple(self))


class SeaweedFS(Server):
    """A SeaweedFS S3 server on 127.0.0.1 with the stack's identities and buckets.

    ``access_key``/``secret_key``/``storage_options``/``env``/``client()`` are the admin's;
    ``identity(name)``, ``storage_options_for(name)``, ``env_for(name)`` and ``client(name)`` give a
    team's view (names in :mod:`housing_stack.identities`).
    """

    name = "SeaweedFS S3"
    start_timeout = START_TIMEOUT
    stop_timeout = STOP_TIMEOUT

    def __init__(
        self,
        data_dir: Path,
        ports: SeaweedPorts,
        credentials: Mapping[str, Credentials],
        *,
        buckets: Sequence[str] = (LAKE_BUCKET, MLFLOW_BUCKET),
        region: str = REGION,
        log_path: Path | None = None,
        pid_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.ports = ports
        self.credentials = dict(credentials)
        self.buckets = tuple(buckets)
        self.region = region
        self.endpoint_url = f"http://127.0.0.1:{ports.s3}"
        self.process = ServerProcess(
            name=self.name,
            command=self._command(),
            log_path=log_path or self.data_dir / "weed.log",
            pid_path=pid_path,
        )

    # --- credentials and clients -------------------------------------------------------------------
    def identity(self, name: str) -> Credentials:
        """The (access key, secret key) of identity ``name``."""
        try:
            return self.credentials[name]
        except KeyError:
            raise KeyError(f"no S3 identity {name!r}; expected one of {sorted(self.credentials)}") from None

    @property
    def access_key(self) -> str:
        return self.identity(ADMIN).access_key

    @property
    def secret_key(self) -> str:
        return self.identity(ADMIN).secret_key

    def storage_options_for(self, name: str) -> dict[str, Any]:
        """fsspec/s3fs ``storage_options`` authenticating as identity ``name``."""
        return self.identity(name).storage_options(self.endpoint_url, self.region)

    @property
    def storage_options(self) -> dict[str, Any]:
        return self.storage_options_for(ADMIN)

    def env_for(self, name: str) -> dict[str, str]:
        """The standard AWS_* environment variables authenticating as identity ``name``."""
        return self.identity(name).aws_env(self.endpoint_url, self.region)

    @property
    def env(self) -> dict[str, str]:
        return self.env_for(ADMIN)

    def airflow_connection(self, name: str = ADMIN) -> str:
        """The ``lake_s3`` Airflow connection (JSON, for ``AIRFLOW_CONN_LAKE_S3``) as identity ``name``."""
        from housing_stack.airflow_standalone import lake_connection

        return lake_connection(self.identity(name), self.endpoint_url, self.region)

    def client(self, name: str = ADMIN) -> BaseClient:
        """A boto3 S3 client authenticating as identity ``name`` (admin by default)."""
        return self.identity(name).s3_client(self.endpoint_url, self.region)

    # --- lifecycle ---------------------------------------------------------------------------------
    def _command(self) -> list[str]:
        p = self.ports
        return [
            installed_executable("weed"),
            "server",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            f"-s3.config={self.data_dir / 'identities.json'}",
            # the Iceberg (8181) and Lance (9101) endpoints are on by default and would clash
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            # a restarted single master otherwise waits out the 10 s default election before serving
            "-master.electionTimeout=1s",
            # small volumes, count chosen from free disk: the default 8 x 30 GB runs out of slots
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            # the volume server otherwise sleeps 10 s on SIGTERM before it stops
            "-volume.preStopSeconds=0",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
        ]

    def _remove_stale_sockets(self) -> None:
        """Remove the sockets named after our ports, except where a live server holds the port: another
        stack's SeaweedFS on the same ports (``make down`` of a profile that is not running) keeps its."""
        for port in self.ports:
            if not port_is_free(port):
                continue
            for path in Path("/tmp").glob(SOCKET_GLOB.format(port=port)):
                path.unlink(missing_ok=True)

    def healthy(self) -> bool:
        """Whether the S3 gateway answers its health check."""
        return http_status(f"{self.endpoint_url}/healthz", timeout=2) == 200

    def prepare(self) -> None:
        """The data folder, the identities file (owner-only) and no stale sockets."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        config_path = self.data_dir / "identities.json"
        config_path.write_text(json.dumps(seaweedfs_config(self.credentials), indent=2))
        config_path.chmod(0o600)
        self._remove_stale_sockets()

    def wait_ready(self, timeout: float | None = START_TIMEOUT) -> None:
        """Wait for S3 health, the volumes on disk, and the buckets (created if missing)."""
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.healthy, "answering S3 health checks", timeout)
        self.process.wait_until(self._volumes_registered, "serving its volumes from disk", timeout)
        self.process.wait_until(self._ensure_buckets, f"creating buckets {list(self.buckets)}", timeout)

    def _volumes_registered(self) -> bool:
        """Whether the master knows every volume on disk: after a restart, S3 answers health checks
        before the volume server's first heartbeat, and reads fail with "volume not found" until then."""
        on_disk = len(list((self.data_dir / "data").glob("*.dat")))
        if on_disk == 0:
            return True
        try:
            url = f"http://127.0.0.1:{self.ports.master}/vol/status"
            with urllib.request.urlopen(url, timeout=2) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        centers = (status.get("Volumes") or {}).get("DataCenters") or {}
        racks = [rack for center in centers.values() for rack in center.values()]
        known = sum(len(volumes or []) for rack in racks for volumes in rack.values())
        return known >= on_disk

    def _ensure_buckets(self) -> bool:
        """Create missing buckets; False (retry) while the filer is still coming up."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
            for bucket in self.buckets:
                if bucket not in existing:
                    client.create_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError):
            return False
        return True

    def after_exit(self) -> None:
        """Remove the unix sockets a stopped or killed server leaves behind."""
        self._remove_stale_sockets()
