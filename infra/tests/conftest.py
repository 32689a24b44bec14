from __future__ import annotations

import os
import tempfile
from pathlib import Path

from housing_stack.teams import REGISTRY_ENV

pytest_plugins = ["housing_testkit.plugin"]

# Teams a developer registered with `make new-consumer` (.local/teams.json) stay out of these tests: a test
# that registers a team does it in a registry of its own.
os.environ[REGISTRY_ENV] = str(Path(tempfile.mkdtemp(prefix="housing-teams-")) / "teams.json")
