"""The Astro project's build inputs agree with the code they ship."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def test_dockerfile_pins_the_tested_contracts_version() -> None:
    """The Dockerfile installs the housing-contracts version these tests run against."""
    pinned = re.search(
        r"^ARG HOUSING_CONTRACTS_VERSION=(\S+)$", (PROJECT_DIR / "Dockerfile").read_text(), re.M
    )
    assert pinned is not None, "Dockerfile has no ARG HOUSING_CONTRACTS_VERSION=<version>"
    assert pinned.group(1) == version("housing-contracts")


def test_dockerfile_builds_on_astro_runtime_3_3() -> None:
    """The image is Astro Runtime 3.3, i.e. Airflow 3.3 like the tests."""
    assert re.search(
        r"^FROM astrocrpublic\.azurecr\.io/runtime:3\.3-\d+$", (PROJECT_DIR / "Dockerfile").read_text(), re.M
    )


def test_dockerignore_keeps_the_contracts_wheel_in_the_build_context() -> None:
    """.dockerignore does not exclude .contracts-dist/, where `make wheels` puts the wheel."""
    patterns = [
        line.strip()
        for line in (PROJECT_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.strip("/*").startswith(".contracts") or p in ("*", ".*")]
