from __future__ import annotations

pytest_plugins = ["housing_testkit.plugin"]
