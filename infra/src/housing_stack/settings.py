"""Stack facts read from the repository's ``.env.example`` (defaults) and ``.env`` (local secrets).

``.env.example`` is the one place for ports, bucket names, identity key ids and placeholder secrets;
everything in Python reads them from here and docker-compose reads the same ``.env``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

#: The monorepo root (this file is infra/src/housing_stack/settings.py; infra is installed editable).
REPO_ROOT = Path(__file__).resolve().parents[3]
ENV_EXAMPLE_PATH = REPO_ROOT / ".env.example"
ENV_PATH = REPO_ROOT / ".env"
#: Secrets in ``.env.example`` carry this value; ``ensure_env_file`` replaces each with a random one.
PLACEHOLDER = "PLACEHOLDER"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file of ``KEY=value`` lines (comments and blank lines ignored, no interpolation)."""
    if not path.is_file():
        raise FileNotFoundError(f"stack settings file {path} is missing; expected KEY=value lines")
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def ensure_env_file(
    path: Path = ENV_PATH, example: Path = ENV_EXAMPLE_PATH, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the local settings, creating ``path`` from ``example`` (and ``extra``: the registered teams'
    entries) with random secrets on first use.

    Keys added to the example or ``extra`` later are appended to an existing file, so ``.env`` never lags
    behind.
    """
    template = {**read_env_file(example), **(extra or {})}
    current = read_env_file(path) if path.exists() else {}
    missing = {key: value for key, value in template.items() if key not in current}
    if missing:
        lines = [f"{key}={_fill(value)}" for key, value in missing.items()]
        header = "" if path.exists() else "# Generated from .env.example by `make up`; never commit.\n"
        with path.open("a") as handle:
            handle.write(header + "\n".join(lines) + "\n")
        path.chmod(0o600)
    return read_env_file(path)


def _fill(value: str) -> str:
    return secrets.token_urlsafe(24) if value == PLACEHOLDER else value


def require(settings: Mapping[str, str], key: str) -> str:
    """One setting, with an error naming the key and the file it belongs in."""
    try:
        return settings[key]
    except KeyError:
        raise KeyError(f"setting {key} is missing; expected it in {ENV_EXAMPLE_PATH}") from None


DEFAULTS: Mapping[str, str] = read_env_file(ENV_EXAMPLE_PATH)
LAKE_BUCKET = require(DEFAULTS, "LAKE_BUCKET")
MLFLOW_BUCKET = require(DEFAULTS, "MLFLOW_BUCKET")
REGION = require(DEFAULTS, "AWS_DEFAULT_REGION")
#: Where the native stack keeps its state, logs and pid files (git-ignored).
LOCAL_DIR = REPO_ROOT / ".local"
