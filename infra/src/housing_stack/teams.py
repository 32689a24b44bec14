"""Consuming teams added with ``make new-consumer``, beyond the two teams of the repository: the registry
(git-ignored, local) and what each registered team adds to the stack's settings.

A team is a name (its consumer name in the lake, its S3 identity and its Airflow deployment), the contract
majors it subscribes to, its Astro project folder and its deployment's three ports. The ports are chosen
from the same place as the others': the first ones no ``*_PORT`` of ``.env.example`` and no other team
uses. :meth:`ConsumerTeam.settings` are its ``.env`` entries, which ``make up`` adds to ``.env`` like any
key of ``.env.example`` (random secrets for the placeholders). Standard library only; the identities
(:mod:`housing_stack.identities`) and the stack read the registry through :func:`registered_teams`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from housing_stack.settings import DEFAULTS, LOCAL_DIR, PLACEHOLDER, require

#: The registry file; ``$HOUSING_TEAMS_FILE`` points elsewhere (tests).
REGISTRY_ENV = "HOUSING_TEAMS_FILE"
DEFAULT_REGISTRY = LOCAL_DIR / "teams.json"
#: Where ``make new-consumer`` generates a team's project when no DEST is given (git-ignored).
WORKSPACE = LOCAL_DIR / "teams"
#: Each team's own output prefix in the lake bucket is ``teams/<team>/``.
OUTPUT_PREFIX_ROOT = "teams/"
#: Ports are allocated from here upward (the repository's teams use 8080 and 8081).
FIRST_PORT = 8082
#: The two teams of the repository and the admin: names a new team cannot take.
RESERVED_NAMES = tuple(
    require(DEFAULTS, f"{prefix}_AWS_ACCESS_KEY_ID") for prefix in ("ADMIN", "DATA_TEAM", "ML_TEAM")
)


@dataclass(frozen=True)
class TeamPorts:
    """The ports one team's deployment binds: its API server, its worker and triggerer log servers."""

    api: int
    worker_log: int
    trigger_log: int


@dataclass(frozen=True)
class ConsumerTeam:
    """One registered consuming team."""

    name: str
    majors: tuple[int, ...]
    project_dir: Path
    ports: TeamPorts

    @property
    def env_prefix(self) -> str:
        """``BI_TEAM`` for ``bi-team``: its keys in ``.env`` (``BI_TEAM_AWS_ACCESS_KEY_ID``, ...)."""
        return env_prefix(self.name)

    @property
    def component(self) -> str:
        """Its deployment's component name in the stack (``make logs COMPONENT=airflow-bi-team``)."""
        return f"airflow-{self.name}"

    @property
    def output_prefix(self) -> str:
        """``teams/<team>/``: the prefix of the lake bucket the team writes its results under."""
        return f"{OUTPUT_PREFIX_ROOT}{self.name}/"

    def settings(self) -> dict[str, str]:
        """Its ``.env`` entries: S3 keys, the deployment's ports, its admin and the data team's read-only
        account on it (secrets as placeholders)."""
        p = self.env_prefix
        return {
            f"{p}_AWS_ACCESS_KEY_ID": self.name,
            f"{p}_AWS_SECRET_ACCESS_KEY": PLACEHOLDER,
            f"AIRFLOW_{p}_PORT": str(self.ports.api),
            f"AIRFLOW_{p}_WORKER_LOG_PORT": str(self.ports.worker_log),
            f"AIRFLOW_{p}_TRIGGER_LOG_PORT": str(self.ports.trigger_log),
            f"AIRFLOW_{p}_USER": f"{self.name}-admin",
            f"AIRFLOW_{p}_PASSWORD": PLACEHOLDER,
            f"AIRFLOW_{p}_READER_USER": require(DEFAULTS, "DATA_TEAM_AWS_ACCESS_KEY_ID"),
            f"AIRFLOW_{p}_READER_PASSWORD": PLACEHOLDER,
        }

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "majors": list(self.majors),
            "project_dir": str(self.project_dir),
            "ports": vars(self.ports),
        }

    @classmethod
    def from_dict(cls, values: dict) -> ConsumerTeam:
        return cls(
            name=values["name"],
            majors=tuple(int(m) for m in values["majors"]),
            project_dir=Path(values["project_dir"]),
            ports=TeamPorts(**values["ports"]),
        )


def env_prefix(name: str) -> str:
    """A team's prefix in ``.env``: upper case, ``-`` as ``_``."""
    return name.upper().replace("-", "_")


def registry_path() -> Path:
    """``$HOUSING_TEAMS_FILE``, else ``.local/teams.json``."""
    return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def registered_teams(path: Path | None = None) -> tuple[ConsumerTeam, ...]:
    """The registered teams, in the order they were added (none if there is no registry)."""
    path = path or registry_path()
    if not path.is_file():
        return ()
    try:
        return tuple(ConsumerTeam.from_dict(t) for t in json.loads(path.read_text())["teams"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"team registry {path} is unreadable ({error}); expected {{'teams': [...]}}"
        ) from None


def registered(name: str, path: Path | None = None) -> ConsumerTeam | None:
    """The registered team called ``name``, else None."""
    return next((t for t in registered_teams(path) if t.name == name), None)


def taken_ports(path: Path | None = None) -> set[int]:
    """Every port ``.env.example`` names and every registered team's."""
    ports = {int(value) for key, value in DEFAULTS.items() if key.endswith("_PORT")}
    for team in registered_teams(path):
        ports.update(vars(team.ports).values())
    return ports


def allocate_ports(path: Path | None = None) -> TeamPorts:
    """The three lowest ports from :data:`FIRST_PORT` that no setting and no registered team uses."""
    taken, chosen, port = taken_ports(path), [], FIRST_PORT
    while len(chosen) < 3:
        if port not in taken:
            chosen.append(port)
        port += 1
    return TeamPorts(*chosen)


def register(team: ConsumerTeam, path: Path | None = None) -> Path:
    """Add ``team`` to the registry, or replace the entry of the same name; returns the registry's path."""
    path = path or registry_path()
    teams = [t for t in registered_teams(path) if t.name != team.name]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"teams": [t.to_dict() for t in [*teams, team]]}, indent=1) + "\n")
    return path


def team_settings(path: Path | None = None) -> dict[str, str]:
    """Every registered team's ``.env`` entries (what ``make up`` adds to ``.env``)."""
    return {key: value for team in registered_teams(path) for key, value in team.settings().items()}
