"""The S3 identities and their permissions, as data.

One definition, rendered both to SeaweedFS's ``-s3.config`` identities JSON (native stack, test fixtures)
and to MinIO policy JSON (docker-compose). :func:`may` evaluates it in Python so tests can compare a real
server's answers with what this module says.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from housing_contracts.consumers.records import CONSUMERS_DIR
from housing_contracts.contract.versions import CONTRACT_NAME, DATASET_URI, LATEST
from housing_stack.settings import DEFAULTS, LAKE_BUCKET, MLFLOW_BUCKET, require
from housing_stack.teams import ConsumerTeam, TeamPorts, registered_teams

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: The identities' names: each is its access key id in ``.env.example`` (``<PREFIX>_AWS_ACCESS_KEY_ID``).
ADMIN = require(DEFAULTS, "ADMIN_AWS_ACCESS_KEY_ID")
DATA_TEAM = require(DEFAULTS, "DATA_TEAM_AWS_ACCESS_KEY_ID")
ML_TEAM = require(DEFAULTS, "ML_TEAM_AWS_ACCESS_KEY_ID")

#: Key prefixes in the lake bucket (see infra/DESIGN.md "Stack facts"). The dataset prefix covers every
#: contract major version (california_housing/v1, v2, ...).
DATASET_PREFIX = f"{CONTRACT_NAME}/"
QUARANTINE_PREFIX = "_quarantine/"
PREDICTIONS_PREFIX = f"{CONTRACT_NAME}_predictions/"
#: Consumers' subscriptions and receipts: ``_consumers/<consumer>/<dataset key>/``, outside the dataset
#: prefix because grants only add (the producer's write on it would cover records kept inside it).
CONSUMERS_PREFIX = f"{CONSUMERS_DIR}/"


def consumer_prefix(consumer: str) -> str:
    """The one prefix a consumer writes its records under, for every dataset it subscribes to."""
    return f"{CONSUMERS_PREFIX}{consumer}/"


if not DATASET_URI.startswith(f"s3://{LAKE_BUCKET}/{DATASET_PREFIX}"):
    raise ValueError(f"DATASET_URI {DATASET_URI}: expected it under s3://{LAKE_BUCKET}/{DATASET_PREFIX}")


class Access(StrEnum):
    """What a grant allows; the values are SeaweedFS action names."""

    READ = "Read"
    WRITE = "Write"  # put, delete, multipart upload
    LIST = "List"


class Login(NamedTuple):
    """A user name and password (an Airflow account, an MLflow user)."""

    user: str
    password: str


class Credentials(NamedTuple):
    """An S3 key pair."""

    access_key: str
    secret_key: str

    @classmethod
    def generate(cls, access_key: str) -> Credentials:
        """A key pair with a fresh random secret."""
        return cls(access_key, secrets.token_urlsafe(24))

    def storage_options(self, endpoint_url: str, region: str) -> dict[str, Any]:
        """fsspec/s3fs ``storage_options`` authenticating with this key pair at ``endpoint_url``."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": endpoint_url, "region_name": region},
        }

    def s3_client(self, endpoint_url: str, region: str) -> BaseClient:
        """A boto3 S3 client authenticating with this key pair at ``endpoint_url`` (2 attempts, 60 s read
        timeout)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=60),
        )

    def aws_env(self, endpoint_url: str, region: str) -> dict[str, str]:
        """The standard AWS_* environment variables authenticating with this key pair at ``endpoint_url``."""
        return {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": region,
        }


@dataclass(frozen=True)
class Grant:
    """Access to one bucket, or to the keys under one prefix of it."""

    bucket: str
    access: tuple[Access, ...]
    prefix: str = ""  # "" = the whole bucket; otherwise ends with "/"

    def covers(self, bucket: str, key: str) -> bool:
        """Whether ``key`` in ``bucket`` (a key, or a listing prefix) lies inside this grant."""
        return bucket == self.bucket and key.startswith(self.prefix)

    @property
    def seaweedfs_resource(self) -> str:
        """``bucket`` or ``bucket/prefix/*`` (a prefix without ``/*`` matches nothing in SeaweedFS 4.48)."""
        return f"{self.bucket}/{self.prefix}*" if self.prefix else self.bucket


@dataclass(frozen=True)
class Identity:
    """A named S3 identity; ``env_prefix`` names its keys in ``.env`` (``<prefix>_AWS_ACCESS_KEY_ID``)."""

    name: str
    env_prefix: str
    grants: tuple[Grant, ...] = ()
    admin: bool = False

    @property
    def access_key_var(self) -> str:
        return f"{self.env_prefix}_AWS_ACCESS_KEY_ID"

    @property
    def secret_key_var(self) -> str:
        return f"{self.env_prefix}_AWS_SECRET_ACCESS_KEY"


_RW_LIST = (Access.READ, Access.WRITE, Access.LIST)
_R_LIST = (Access.READ, Access.LIST)

IDENTITIES: tuple[Identity, ...] = (
    Identity(ADMIN, "ADMIN", admin=True),
    Identity(
        DATA_TEAM,
        "DATA_TEAM",
        grants=(
            Grant(LAKE_BUCKET, _RW_LIST, DATASET_PREFIX),
            Grant(LAKE_BUCKET, _RW_LIST, QUARANTINE_PREFIX),
            # every consumer's records, read-only: the producer sees its consumers and forges none
            Grant(LAKE_BUCKET, _R_LIST, CONSUMERS_PREFIX),
        ),
    ),
    Identity(
        ML_TEAM,
        "ML_TEAM",
        grants=(
            Grant(LAKE_BUCKET, _R_LIST, DATASET_PREFIX),
            Grant(LAKE_BUCKET, _RW_LIST, PREDICTIONS_PREFIX),
            # its own subscriptions and receipts (the consumer name is the identity's name)
            Grant(LAKE_BUCKET, _RW_LIST, consumer_prefix(ML_TEAM)),
            Grant(MLFLOW_BUCKET, _RW_LIST),
        ),
    ),
)


def team_identity(team: ConsumerTeam) -> Identity:
    """A team added with ``make new-consumer``: read on each contract major it subscribes to, write on its
    own consumer records and on its own output prefix, nothing in MLflow's bucket."""
    return Identity(
        team.name,
        team.env_prefix,
        grants=(
            *(Grant(LAKE_BUCKET, _R_LIST, f"{DATASET_PREFIX}v{major}/") for major in team.majors),
            Grant(LAKE_BUCKET, _RW_LIST, consumer_prefix(team.name)),
            Grant(LAKE_BUCKET, _RW_LIST, team.output_prefix),
        ),
    )


def all_identities() -> tuple[Identity, ...]:
    """:data:`IDENTITIES` and each registered team's (:mod:`housing_stack.teams`)."""
    return (*IDENTITIES, *(team_identity(team) for team in registered_teams()))


def identity(name: str) -> Identity:
    """The identity called ``name`` (a registered team's too)."""
    known = all_identities()
    for candidate in known:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown S3 identity {name!r}; expected one of {[i.name for i in known]}")


def may(name: str, access: Access, bucket: str, key: str = "") -> bool:
    """Whether identity ``name`` may ``access`` ``key`` in ``bucket`` (for LIST, ``key`` is the prefix)."""
    who = identity(name)
    return who.admin or any(access in g.access and g.covers(bucket, key) for g in who.grants)


def generate_credentials(names: Iterable[str] | None = None) -> dict[str, Credentials]:
    """Random credentials per identity (key id = identity name; all by default), for test servers."""
    return {name: Credentials.generate(name) for name in (names or [i.name for i in all_identities()])}


def credentials_from_settings(settings: Mapping[str, str]) -> dict[str, Credentials]:
    """Each identity's key pair (registered teams' too) from ``.env`` values (``ADMIN_AWS_ACCESS_KEY_ID``
    etc.)."""
    return {
        i.name: Credentials(require(settings, i.access_key_var), require(settings, i.secret_key_var))
        for i in all_identities()
    }


def seaweedfs_config(credentials: Mapping[str, Credentials]) -> dict:
    """The ``weed -s3.config`` document granting each identity exactly its permissions (a registered
    team's when ``credentials`` has its keys)."""
    documents = []
    base = {i.name for i in IDENTITIES}
    for who in all_identities():
        if who.name not in credentials and who.name not in base:
            continue
        if who.name not in credentials:
            raise KeyError(f"no credentials for S3 identity {who.name!r}")
        if who.admin:
            actions = ["Admin", "Read", "Write", "List", "Tagging"]
        else:
            actions = [f"{access}:{g.seaweedfs_resource}" for g in who.grants for access in g.access]
        key = credentials[who.name]
        documents.append(
            {
                "name": who.name,
                "credentials": [{"accessKey": key.access_key, "secretKey": key.secret_key}],
                "actions": actions,
            }
        )
    return {"identities": documents}


_MINIO_OBJECT_ACTIONS: dict[Access, tuple[str, ...]] = {
    Access.READ: ("s3:GetObject",),
    Access.WRITE: (
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ),
}


def minio_policy(name: str) -> dict:
    """The MinIO (IAM-style) policy for a non-admin identity; the admin is MinIO's root user."""
    who = identity(name)
    if who.admin:
        raise ValueError(f"identity {name!r} is the MinIO root user and has no policy")
    statements: list[dict] = []
    for grant in who.grants:
        objects = f"arn:aws:s3:::{grant.bucket}/{grant.prefix}*"
        for access in grant.access:
            if access is Access.LIST:
                statement: dict = {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{grant.bucket}"],
                }
                if grant.prefix:
                    statement["Condition"] = {"StringLike": {"s3:prefix": [f"{grant.prefix}*"]}}
            else:
                actions = list(_MINIO_OBJECT_ACTIONS[access])
                statement = {"Effect": "Allow", "Action": actions, "Resource": [objects]}
            statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def write_minio_policies(directory: Path) -> list[Path]:
    """Write ``<identity>.json`` with :func:`minio_policy` for each non-admin identity; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for who in IDENTITIES:
        if not who.admin:
            path = directory / f"{who.name}.json"
            path.write_text(json.dumps(minio_policy(who.name), indent=2) + "\n")
            paths.append(path)
    return paths


# --- Beyond the lake: MLflow users and Airflow accounts ------------------------------------------------
# Each team is one identity everywhere: its S3 keys above, its MLflow user and its Airflow accounts below
# carry the same name. What the accounts may do is data, like the S3 grants: the stack applies it, tests
# probe it, and the README's access table is rendered from it (:func:`access_table`).

#: The MLflow resources the grants name; the ML team's settings define the same names (a test checks).
MLFLOW_EXPERIMENT = "california_housing"
MLFLOW_MODEL = "california_housing_regressor"


class MlflowPermission(StrEnum):
    """MLflow basic-auth permissions (weakest first)."""

    NONE = "NO_PERMISSIONS"
    READ = "READ"
    USE = "USE"
    EDIT = "EDIT"
    MANAGE = "MANAGE"


#: What a user without a grant may do on any experiment or model: nothing.
MLFLOW_DEFAULT_PERMISSION = MlflowPermission.NONE


@dataclass(frozen=True)
class MlflowUser:
    """A user of MLflow's basic-auth app, its password in ``.env`` as ``password_var``."""

    name: str
    password_var: str
    experiment: MlflowPermission  #: on :data:`MLFLOW_EXPERIMENT`
    model: MlflowPermission  #: on :data:`MLFLOW_MODEL`


#: MLflow's admin, who creates the users and grants (``.env``: ``MLFLOW_ADMIN_USER``/``_PASSWORD``).
MLFLOW_ADMIN_ENV_PREFIX = "MLFLOW_ADMIN"
MLFLOW_ADMIN_USER_VAR = f"{MLFLOW_ADMIN_ENV_PREFIX}_USER"
MLFLOW_ADMIN_PASSWORD_VAR = f"{MLFLOW_ADMIN_ENV_PREFIX}_PASSWORD"
MLFLOW_USERS: tuple[MlflowUser, ...] = (
    # trains, logs and registers, moves the champion/challenger aliases, and deletes the half-logged run a
    # crashed try left (deleting a run takes MANAGE)
    MlflowUser(ML_TEAM, "MLFLOW_ML_TEAM_PASSWORD", MlflowPermission.MANAGE, MlflowPermission.MANAGE),
    # sees which model its data trained, changes nothing
    MlflowUser(DATA_TEAM, "MLFLOW_DATA_TEAM_PASSWORD", MlflowPermission.READ, MlflowPermission.READ),
)


def generate_mlflow_logins(admin_user: str = ADMIN) -> dict[str, Login]:
    """MLflow's admin and each team's user with fresh random passwords (for test servers)."""
    logins = {ADMIN: Login(admin_user, secrets.token_urlsafe(24))}
    logins.update({user.name: Login(user.name, secrets.token_urlsafe(24)) for user in MLFLOW_USERS})
    return logins


class AirflowRole(StrEnum):
    """Roles of Airflow's simple auth manager used here."""

    ADMIN = "admin"
    VIEWER = "viewer"  # reads DAGs, runs, logs, assets and plugin pages; triggers, pauses, clears nothing


@dataclass(frozen=True)
class AirflowAccount:
    """One login of one team's Airflow deployment; ``env_prefix`` names it in ``.env``
    (``<prefix>_USER``, ``<prefix>_PASSWORD``)."""

    deployment: str  #: the team whose deployment it is
    holder: str  #: the team that holds it
    role: AirflowRole
    env_prefix: str

    @property
    def user_var(self) -> str:
        return f"{self.env_prefix}_USER"

    @property
    def password_var(self) -> str:
        return f"{self.env_prefix}_PASSWORD"


#: Each deployment has an admin of its own team and a read-only account for the other team.
AIRFLOW_ACCOUNTS: tuple[AirflowAccount, ...] = (
    AirflowAccount(DATA_TEAM, DATA_TEAM, AirflowRole.ADMIN, "AIRFLOW_DATA"),
    AirflowAccount(DATA_TEAM, ML_TEAM, AirflowRole.VIEWER, "AIRFLOW_DATA_READER"),
    AirflowAccount(ML_TEAM, ML_TEAM, AirflowRole.ADMIN, "AIRFLOW_ML"),
    AirflowAccount(ML_TEAM, DATA_TEAM, AirflowRole.VIEWER, "AIRFLOW_ML_READER"),
)


def team_accounts(team: ConsumerTeam) -> tuple[AirflowAccount, ...]:
    """A registered team's deployment: its own admin and the data team's read-only account (the
    producer looks at its consumers)."""
    prefix = f"AIRFLOW_{team.env_prefix}"
    return (
        AirflowAccount(team.name, team.name, AirflowRole.ADMIN, prefix),
        AirflowAccount(team.name, DATA_TEAM, AirflowRole.VIEWER, f"{prefix}_READER"),
    )


def all_airflow_accounts() -> tuple[AirflowAccount, ...]:
    """:data:`AIRFLOW_ACCOUNTS` and each registered team's."""
    return (*AIRFLOW_ACCOUNTS, *(a for team in registered_teams() for a in team_accounts(team)))


def airflow_accounts(deployment: str) -> tuple[AirflowAccount, ...]:
    """The accounts of ``deployment``'s Airflow (its admin first)."""
    return tuple(a for a in all_airflow_accounts() if a.deployment == deployment)


def airflow_admin(deployment: str) -> AirflowAccount:
    """The admin account of ``deployment``'s Airflow."""
    return next(a for a in airflow_accounts(deployment) if a.role is AirflowRole.ADMIN)


def airflow_reader(deployment: str) -> AirflowAccount:
    """The other team's read-only account on ``deployment``'s Airflow."""
    return next(a for a in airflow_accounts(deployment) if a.role is AirflowRole.VIEWER)


def _lake_cell(who: Identity) -> str:
    if who.admin:
        return "everything"
    return "; ".join(
        f"{'/'.join(a.value.lower() for a in grant.access)} `{grant.bucket}/{grant.prefix}`"
        for grant in who.grants
    )


def access_table() -> str:
    """The README's "who can do what": a Markdown row per identity, a column per resource."""
    deployments = (DATA_TEAM, ML_TEAM)
    header = ["identity", "S3", "MLflow", *(f"{d}'s Airflow" for d in deployments)]

    def login(account: AirflowAccount) -> str:
        return f"{account.role.value} (`{account.user_var}`)"

    rows = []
    for team in deployments:
        user = next(u for u in MLFLOW_USERS if u.name == team)
        mlflow = (
            f"{user.experiment.value} on experiment `{MLFLOW_EXPERIMENT}`, "
            f"{user.model.value} on model `{MLFLOW_MODEL}`"
        )
        own = [login(airflow_admin(d)) if d == team else "-" for d in deployments]
        rows.append([team, _lake_cell(identity(team)), mlflow, *own])
        reader = [login(airflow_reader(d)) if airflow_reader(d).holder == team else "-" for d in deployments]
        rows.append([f"{team}, read-only account", "-", "-", *reader])
    # a team from `make new-consumer` is local (registered in a git-ignored file): its row shows the rule
    example = team_identity(ConsumerTeam("<team>", (LATEST.major,), Path(), TeamPorts(0, 0, 0)))
    rows.append(["`<team>` (make new-consumer)", _lake_cell(example), "-", "-", "-"])
    rows.append(["admin (operator)", _lake_cell(identity(ADMIN)), "everything (MLflow's admin)", "-", "-"])
    refused = f"nothing (401; default permission {MLFLOW_DEFAULT_PERMISSION.value})"
    rows.append(["anonymous", "nothing (403)", refused, "nothing (401)", "nothing (401)"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def airflow_logins_from_settings(settings: Mapping[str, str]) -> dict[str, Login]:
    """Each Airflow account's login from ``.env`` values, by its prefix (``AIRFLOW_DATA``, ...)."""
    return {
        a.env_prefix: Login(require(settings, a.user_var), require(settings, a.password_var))
        for a in all_airflow_accounts()
    }


def mlflow_logins_from_settings(settings: Mapping[str, str]) -> dict[str, Login]:
    """MLflow's admin (``admin``) and each team's user from ``.env`` values."""
    admin = Login(require(settings, MLFLOW_ADMIN_USER_VAR), require(settings, MLFLOW_ADMIN_PASSWORD_VAR))
    return {ADMIN: admin, **{u.name: Login(u.name, require(settings, u.password_var)) for u in MLFLOW_USERS}}
